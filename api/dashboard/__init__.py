"""The dashboard and the monthly report: pages drawn on the server from the query API."""
