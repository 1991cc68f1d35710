#!/usr/bin/env python3
"""Deploy files CI check (`.ci/run` calls it; it needs `docker-compose` and python3-yaml).

1. Every Dockerfile `RUN --mount=type=cache` has a Railway cache id `id=s/<service id>-<path>`
   without variables (Railway refuses the build otherwise).
2. Every Railway service's config-as-code file exists and uses only the documented fields with
   valid values (docs.railway.com/config-as-code/reference).
3. docker-compose.yml rendered with `.env.example` by a real compose client gives the worker an
   environment it starts with: the real binary is started with exactly that environment (only
   PORT is moved to a free port) and must answer /healthz.

`--self-test` first shows that each check fails on a broken input.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Railway services of this repository: (config file, the service's root directory).
RAILWAY_SERVICES = [("railway.json", "."), ("opencode/railway.json", "opencode")]

# Fields documented at docs.railway.com/config-as-code/reference, with a check for each value.
def _str(v):
    return isinstance(v, str) and v != ""


def _str_or_null(v):
    return v is None or _str(v)


def _pos_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _non_neg_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _bool(v):
    return isinstance(v, bool)


def _str_list(v):
    return isinstance(v, list) and all(_str(x) for x in v)


BUILD_FIELDS = {
    "builder": lambda v: v in ("RAILPACK", "DOCKERFILE", "NIXPACKS"),
    "watchPatterns": _str_list,
    "buildCommand": _str_or_null,
    "dockerfilePath": _str_or_null,
    "railpackVersion": _str_or_null,
    "nixpacksConfigPath": _str_or_null,
    "nixpacksPlan": lambda v: v is None or isinstance(v, dict),
    "nixpacksVersion": _str_or_null,
    "buildEnvironment": lambda v: v in ("V2", "V3"),
}
DEPLOY_FIELDS = {
    "startCommand": _str_or_null,
    "preDeployCommand": lambda v: v is None or _str(v) or _str_list(v),
    "numReplicas": _pos_int,
    "healthcheckPath": lambda v: v is None or (_str(v) and v.startswith("/")),
    "healthcheckTimeout": _pos_int,
    "restartPolicyType": lambda v: v in ("ON_FAILURE", "ALWAYS", "NEVER"),
    "restartPolicyMaxRetries": _non_neg_int,
    "cronSchedule": _str_or_null,
    "sleepApplication": _bool,
    "region": _str_or_null,
    "multiRegionConfig": lambda v: isinstance(v, dict),
    "overlapSeconds": _non_neg_int,
    "drainingSeconds": _non_neg_int,
    "requiredMountPath": _str_or_null,
    "limitOverride": lambda v: isinstance(v, dict),
    "runtime": lambda v: v in ("V2", "LEGACY", "UNSPECIFIED"),
    "useLegacyStacker": _bool,
    "ipv6EgressEnabled": _bool,
}
TOP_FIELDS = {"$schema", "build", "deploy", "environments"}
SCHEMA_URLS = ("https://railway.com/railway.schema.json", "https://railway.app/railway.schema.json")


class CheckFailed(Exception):
    pass


def check_cache_mounts(paths):
    """Fails on any cache mount without `id=s/<service id>-<path>` or with a variable in it."""
    problems = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # Comments are not instructions (Docker drops them, even inside a continued RUN);
        # then join continuation lines so one RUN instruction is one line.
        code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
        joined = re.sub(r"\\\r?\n", " ", code)
        for lineno, line in enumerate(joined.splitlines(), 1):
            for opts in re.findall(r"--mount=(\S+)", line):
                fields = dict(
                    kv.split("=", 1) if "=" in kv else (kv, "") for kv in opts.split(",")
                )
                if fields.get("type") != "cache":
                    continue
                cache_id = fields.get("id", "")
                if not re.fullmatch(r"s/[A-Za-z0-9-]+-\S+", cache_id) or "$" in cache_id:
                    problems.append(
                        f"{os.path.relpath(path, ROOT)}: `--mount={opts}` has no Railway cache id; "
                        "Railway refuses it: use id=s/<service id>-<target path> (no variables) "
                        "or drop the mount"
                    )
    if problems:
        raise CheckFailed("\n".join(problems))


def check_railway_config(path, service_root):
    rel = os.path.relpath(path, ROOT)
    if not os.path.isfile(path):
        raise CheckFailed(f"{rel}: missing (Railway config-as-code for the service at {service_root}/)")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise CheckFailed(f"{rel}: not valid JSON: {e}")
    problems = []
    if not isinstance(doc, dict):
        raise CheckFailed(f"{rel}: must be a JSON object")
    for key in doc:
        if key not in TOP_FIELDS:
            problems.append(f"{rel}: unknown top-level field `{key}`")
    if doc.get("$schema") not in SCHEMA_URLS:
        problems.append(f"{rel}: `$schema` must be {SCHEMA_URLS[0]}")
    for section, fields in (("build", BUILD_FIELDS), ("deploy", DEPLOY_FIELDS)):
        body = doc.get(section)
        if body is None:
            problems.append(f"{rel}: `{section}` is missing")
            continue
        if not isinstance(body, dict):
            problems.append(f"{rel}: `{section}` must be an object")
            continue
        for key, value in body.items():
            check = fields.get(key)
            if check is None:
                problems.append(f"{rel}: unknown field `{section}.{key}`")
            elif not check(value):
                problems.append(f"{rel}: `{section}.{key}` has an invalid value {value!r}")
    build = doc.get("build") or {}
    if build.get("builder") == "DOCKERFILE":
        dockerfile = os.path.join(ROOT, service_root, build.get("dockerfilePath") or "Dockerfile")
        if not os.path.isfile(dockerfile):
            problems.append(f"{rel}: build.dockerfilePath points at a missing file {dockerfile}")
    else:
        problems.append(f"{rel}: build.builder must be DOCKERFILE (both services ship a Dockerfile)")
    if "restartPolicyType" not in (doc.get("deploy") or {}):
        problems.append(f"{rel}: deploy.restartPolicyType is missing")
    if problems:
        raise CheckFailed("\n".join(problems))
    return doc


def compose_client():
    for cmd in (["docker", "compose"], ["docker-compose"]):
        try:
            subprocess.run(cmd + ["version"], check=True, capture_output=True)
            return cmd
        except (OSError, subprocess.CalledProcessError):
            continue
    raise CheckFailed("no compose client (docker compose or docker-compose) is installed")


def rendered_worker_env(compose_file, env_file, service="autofix"):
    import yaml  # python3-yaml, a dependency of Debian's docker-compose

    client = compose_client()
    # Only the env file: the machine's own variables must not fill the gaps.
    clean = {"PATH": os.environ.get("PATH", "")}
    out = subprocess.run(
        client + ["--env-file", env_file, "-f", compose_file, "config"],
        check=False,
        capture_output=True,
        text=True,
        env=clean,
        cwd=os.path.dirname(compose_file),
    )
    if out.returncode != 0:
        raise CheckFailed(f"{compose_file}: compose refuses it:\n{out.stderr}")
    doc = yaml.safe_load(out.stdout)
    env = doc["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_worker_starts(binary, env):
    env = dict(env)
    port = free_port()
    env["PORT"] = str(port)
    env["PATH"] = os.environ.get("PATH", "")
    proc = subprocess.Popen(
        [binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            if proc.poll() is not None:
                raise CheckFailed(
                    "the worker exited with the compose environment:\n" + proc.stdout.read()
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise CheckFailed("the worker did not answer /healthz within 30 s")
    finally:
        proc.kill()
        proc.wait()


def dockerfiles():
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    return [os.path.join(ROOT, p) for p in out if os.path.basename(p).startswith("Dockerfile")]


def expect_failure(name, fn, needle):
    try:
        fn()
    except CheckFailed as e:
        if needle not in str(e):
            sys.exit(f"self-test {name}: failed for the wrong reason: {e}")
        print(f"self-test {name}: fails as it should")
        return
    sys.exit(f"self-test {name}: the check passed on a broken input")


def self_test(binary):
    tmp = tempfile.mkdtemp()
    try:
        bad = os.path.join(tmp, "Dockerfile")
        for mount in (
            "--mount=type=cache,target=/root/.cargo",
            "--mount=type=cache,id=s/${RAILWAY_SERVICE_ID}-/root/.cargo,target=/root/.cargo",
        ):
            with open(bad, "w") as f:
                f.write(f"FROM x\nRUN apt-get update && \\\n    true\nRUN {mount} \\\n  cargo build\n")
            expect_failure("cache mount " + mount, lambda: check_cache_mounts([bad]), "cache id")
        with open(bad, "w") as f:
            f.write("FROM x\nRUN --mount=type=cache,id=s/0b1c-/root/.cargo,target=/root/.cargo true\n")
        check_cache_mounts([bad])

        cfg = os.path.join(tmp, "railway.json")
        expect_failure("missing railway.json", lambda: check_railway_config(cfg, "."), "missing")
        for broken, needle in (
            ({"build": {"builder": "DOCKERFILE"}, "deploy": {"restartPolicyType": "SOMETIMES"}}, "restartPolicyType"),
            ({"build": {"builder": "DOCKERFILE"}, "deploy": {"healthCheckPath": "/healthz"}}, "unknown field"),
            ({"build": {"builder": "DOCKERFILE"}, "deploy": {"healthcheckPath": "healthz", "restartPolicyType": "NEVER"}}, "healthcheckPath"),
        ):
            broken["$schema"] = SCHEMA_URLS[0]
            with open(cfg, "w") as f:
                json.dump(broken, f)
            expect_failure("railway.json " + needle, lambda: check_railway_config(cfg, "."), needle)

        compose = os.path.join(tmp, "docker-compose.yml")
        env_file = os.path.join(tmp, ".env.example")
        with open(compose, "w") as f:
            f.write("services:\n  autofix:\n    image: x\n    environment:\n"
                    "      INNGEST_DEV: '1'\n      OPENAI_BASE_URL: ${OPENAI_BASE_URL:-}\n"
                    "      AUTOFIX_FIX_RATE_LIMIT: ${AUTOFIX_FIX_RATE_LIMIT:-48h}\n")
        with open(env_file, "w") as f:
            f.write("OPENAI_BASE_URL=\n")
        env = rendered_worker_env(compose, env_file)
        expect_failure("compose worker environment", lambda: check_worker_starts(binary, env), "AUTOFIX_FIX_RATE_LIMIT")
    finally:
        shutil.rmtree(tmp)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/debug/autofix"))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        self_test(args.binary)
    try:
        files = dockerfiles()
        if not files:
            raise CheckFailed("no Dockerfile found")
        check_cache_mounts(files)
        print(f"cache mounts: ok ({', '.join(os.path.relpath(p, ROOT) for p in files)})")
        for cfg, service_root in RAILWAY_SERVICES:
            check_railway_config(os.path.join(ROOT, cfg), service_root)
            print(f"{cfg}: ok")
        env = rendered_worker_env(os.path.join(ROOT, "docker-compose.yml"), os.path.join(ROOT, ".env.example"))
        check_worker_starts(args.binary, env)
        print(f"docker-compose.yml + .env.example: the worker starts with its {len(env)} variables and answers /healthz")
    except CheckFailed as e:
        sys.exit(f"deploy check failed:\n{e}")


if __name__ == "__main__":
    main()
