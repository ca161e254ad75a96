"""Revisits, improvement actions and survey invitations: the `followups` read model and its
queries."""
