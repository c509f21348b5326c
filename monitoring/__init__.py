"""Monitoring as code for EVR: Prometheus alert rules, runbooks and Grafana dashboards."""
