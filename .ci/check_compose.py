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
# issue 20 §4: start order, healthchecks that work, an image with only what it runs
for name in ("worker", "beat", "relay", "web"):
    after = services.get(name, {}).get("depends_on", {}).get("migrate", {})
    if after.get("condition") != "service_completed_successfully":
        problems.append(f"{name} must wait for migrate (service_completed_successfully)")
if services.get("web", {}).get("healthcheck", {}).get("test") != ["CMD", "python", "-m", "trialsite.healthcheck"]:
    problems.append("web healthcheck must be trialsite.healthcheck (Host header from DJANGO_ALLOWED_HOSTS)")
worker_check = services.get("worker", {}).get("healthcheck", {}).get("test", [])
if not worker_check or worker_check[0] != "CMD-SHELL" or "$$HOSTNAME" not in worker_check[-1]:
    problems.append("worker healthcheck must be shell form so $HOSTNAME expands")
build = str(compose.get("x-app", {}).get("build", {}).get("dockerfile_inline", ""))
if "fonts-noto-cjk" not in build:
    problems.append("the image needs fonts-noto-cjk (Chinese plot labels)")
installs = [line for line in build.splitlines() if "pip install" in line]
if not installs or any("-r requirements.txt" not in line or "requirements-" in line for line in installs):
    problems.append("the image installs requirements.txt only (no embedded servers)")
print("\n".join(problems) or "docker-compose.yml: structure OK")
sys.exit(1 if problems else 0)
