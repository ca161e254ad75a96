"""The satisfaction index, CSAT and NPS: the `satisfaction` read model and its queries."""
