"""The complaint backlog and complaint statistics: the `complaints` read model and its queries."""
