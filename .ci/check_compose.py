"""Structural check of docker-compose.yml where the docker compose client is missing."""

import sys

import yaml

with open("docker-compose.yml", encoding="utf-8") as fh:
    compose = yaml.safe_load(fh)
services = compose["services"]
problems = [
    f"missing service {name}"
    for name in ("web", "worker", "beat", "relay", "db", "redis", "migrate")
    if name not in services
]
problems += [
    f"{name} has no healthcheck"
    for name in ("web", "worker", "db", "redis")
    if "healthcheck" not in services.get(name, {})
]
if "appendonly yes" not in str(services.get("redis", {}).get("command", "")):
    problems.append("redis must persist with appendonly")
if "postgres:16" not in str(services.get("db", {}).get("image", "")):
    problems.append("db must be postgres:16")
if "pgdata" not in compose.get("volumes", {}):
    problems.append("no pgdata volume")
print("\n".join(problems) or "docker-compose.yml: structure OK")
sys.exit(1 if problems else 0)
