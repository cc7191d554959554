#!/usr/bin/env python3
"""Checks the deployment files (Dockerfile, deploy/docker-compose.yml, deploy/kubernetes/)
against the service they deploy, without a container engine or a cluster:

  * every YAML file parses; every kustomization names files that exist, and base lists them all;
  * every environment variable the manifests give the service is one it reads (`coredb config
    vars`, the one list in src/coredb/config/settings.cpp): an unknown variable fails;
  * probe paths are the service's health routes (the right one for each probe), probe and
    Service ports are the container port, which is PORT; the preStop sleep matches
    SHUTDOWN_DRAIN_DELAY and the grace periods cover the drain;
  * non-root, read-only root file system, no privilege escalation;
  * the Dockerfile's runtime packages cover `ldd` of the built binary (dpkg -S per library);
  * `coredb config print` masks passwords and tokens; `coredb health --live` probes /health/live.

  check_deploy.py BINARY            the checks above (CTest: deploy.manifests)
  check_deploy.py --tools BINARY    also render with `kubectl kustomize` and `docker-compose
                                    config` and check the rendered output; exit 77 (CTest: skipped)
                                    when neither tool is installed (CTest: deploy.render)
"""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import unittest

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(REPO, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
COMPOSE = os.path.join(DEPLOY, "docker-compose.yml")
DOCKERFILE = os.path.join(REPO, "Dockerfile")
BINARY = None  # set in main()
SKIP = 77


def run(args, env=None, timeout=20):
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def known_vars():
    out = run([BINARY, "config", "vars"])
    assert out.returncode == 0, out.stderr
    names = set(out.stdout.split())
    assert len(names) > 40, "coredb config vars listed only %d names" % len(names)
    return names


def yaml_files():
    found = []
    for root, _, files in os.walk(DEPLOY):
        for f in files:
            if f.endswith((".yml", ".yaml")):
                found.append(os.path.join(root, f))
    return sorted(found)


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def k8s_objects(paths=None):
    """(path, object) of every Kubernetes object under deploy/kubernetes (kustomizations excluded)."""
    objs = []
    for path in paths or yaml_files():
        if not path.startswith(K8S) or os.path.basename(path) == "kustomization.yaml":
            continue
        for doc in load_docs(path):
            objs.append((path, doc))
    return objs


def routes():
    """The GET routes of the health and metrics handlers, from their sources."""
    found = set()
    for name in ("health_handler.cpp", "metrics_handler.cpp"):
        with open(os.path.join(REPO, "src", "coredb", "http", "handlers", name)) as f:
            found |= set(re.findall(r'router\.Add\(beast_http::verb::get,\s*"([^"]+)"', f.read()))
    assert {"/health", "/health/ready", "/health/live", "/metrics"} <= found, found
    return found


def coredb_containers(objs):
    """(path, kind, pod spec, container) of every container running the coredb image."""
    out = []
    for path, obj in objs:
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec") if obj.get("kind") in ("Deployment", "Job", "StatefulSet") else None
        if not pod:
            continue
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            if c.get("image", "").split("/")[-1].split(":")[0] == "coredb":
                out.append((path, obj["kind"], pod, c))
    return out


def env_sources(objs, kind, name):
    """Keys of every ConfigMap/Secret `name` (base and overlay patches)."""
    keys = {}
    for path, obj in objs:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            for field in ("data", "stringData"):
                for key in (obj.get(field) or {}):
                    keys[key] = path
    return keys


def k8s_env(objs):
    """{variable: where} of every variable a coredb container gets (env and envFrom)."""
    found = {}
    containers = coredb_containers(objs)
    assert containers, "no container runs the coredb image"
    for path, kind, _, c in containers:
        for e in c.get("env", []):
            found[e["name"]] = "%s (%s env)" % (path, kind)
        for src in c.get("envFrom", []):
            for ref_field, kind_name in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if ref_field in src:
                    ref = src[ref_field]["name"]
                    keys = env_sources(objs, kind_name, ref)
                    assert keys or src[ref_field].get("optional"), "%s %s (envFrom of %s) not found" % (kind_name, ref, path)
                    for key, where in keys.items():
                        found[key] = "%s (%s %s)" % (where, kind_name, ref)
    return found


def compose_env(compose):
    """{variable: service} of every variable a service built from the Dockerfile gets."""
    found = {}
    services = [(n, s) for n, s in compose["services"].items()
                if "build" in s or str(s.get("image", "")).startswith("coredb")]
    assert {"coredb", "migrate", "seed"} <= {n for n, _ in services}, services
    for name, service in services:
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        for key in env:
            found[key] = "docker-compose.yml service " + name
    return found


def dockerfile_text():
    with open(DOCKERFILE) as f:
        return f.read()


def dockerfile_env():
    names = set()
    for line in dockerfile_text().splitlines():
        if line.startswith("ENV "):
            names |= set(re.findall(r"([A-Z_][A-Z0-9_]*)=", line))
    return names


def millis(cfg, name):
    return int(cfg[name])


class Yaml(unittest.TestCase):
    def test_every_yaml_file_parses(self):
        files = yaml_files()
        self.assertGreaterEqual(len(files), 14, files)
        for path in files:
            with self.subTest(path=path):
                docs = load_docs(path)
                self.assertTrue(docs, "empty YAML file")
        with open(os.path.join(DEPLOY, "pgadmin", "servers.json")) as f:
            servers = json.load(f)["Servers"]
        self.assertEqual(servers["1"]["Host"], "postgres")

    def test_kustomizations_name_existing_files_and_base_lists_every_manifest(self):
        for root, _, files in os.walk(K8S):
            if "kustomization.yaml" not in files:
                continue
            k = load_docs(os.path.join(root, "kustomization.yaml"))[0]
            named = [r for r in k.get("resources", [])] + [p["path"] for p in k.get("patches", []) if "path" in p]
            for entry in named:
                with self.subTest(kustomization=root, entry=entry):
                    self.assertTrue(os.path.exists(os.path.join(root, entry)), entry)
            listed = {os.path.normpath(os.path.join(root, e)) for e in named}
            for f in files:
                if f.endswith(".yaml") and f != "kustomization.yaml":
                    self.assertIn(os.path.join(root, f), listed, "%s/%s is in no kustomization" % (root, f))
        overlay = load_docs(os.path.join(K8S, "overlays", "production", "kustomization.yaml"))[0]
        self.assertIn("../../base", overlay["resources"])

    def test_the_kubernetes_kinds_are_all_there(self):
        kinds = [o.get("kind") for _, o in k8s_objects()]
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap",
                     "Secret", "Job", "NetworkPolicy", "ServiceMonitor"):
            self.assertIn(kind, kinds)
        services = [o for _, o in k8s_objects() if o.get("kind") == "Service"]
        self.assertTrue(any(s["spec"].get("clusterIP") == "None" for s in services), "no headless Service")


class EnvironmentVariables(unittest.TestCase):
    def check(self, found):
        known = known_vars()
        unknown = {name: where for name, where in found.items() if name not in known}
        self.assertEqual(unknown, {}, "variables the service does not read (coredb config vars)")

    def test_kubernetes_sets_only_variables_the_service_reads(self):
        found = k8s_env(k8s_objects())
        self.assertIn("DATABASE_URL", found)
        self.assertIn("SHUTDOWN_DRAIN_DELAY", found)
        self.check(found)

    def test_compose_sets_only_variables_the_service_reads(self):
        found = compose_env(load_docs(COMPOSE)[0])
        self.assertIn("REDIS_URL", found)
        self.check(found)

    def test_dockerfile_sets_only_variables_the_service_reads(self):
        found = {n: "Dockerfile" for n in dockerfile_env()}
        self.assertEqual(set(found), {"HOST", "PORT"})
        self.check(found)

    def test_an_unknown_variable_is_caught(self):
        objs = k8s_objects() + [("injected", {"kind": "ConfigMap", "metadata": {"name": "coredb-config"},
                                               "data": {"PG_POOLSIZE": "5"}})]
        with self.assertRaises(AssertionError):
            self.check(k8s_env(objs))

    def test_secrets_are_placeholders_in_the_secret_not_the_configmap(self):
        objs = k8s_objects()
        config = env_sources(objs, "ConfigMap", "coredb-config")
        secret = env_sources(objs, "Secret", "coredb-secrets")
        for name in ("DATABASE_URL", "REDIS_URL", "VECTOR_URL", "COREDB_ADMIN_TOKEN", "METRICS_TOKEN", "PG_PASSWORD",
                     "REDIS_PASSWORD"):
            self.assertNotIn(name, config, "%s belongs in the Secret" % name)
        self.assertIn("COREDB_ADMIN_TOKEN", secret)
        for _, obj in objs:
            if obj.get("kind") == "Secret":
                for key, value in (obj.get("stringData") or {}).items():
                    self.assertIn("CHANGE_ME", value, "%s is not a placeholder" % key)
        self.assertNotRegex(dockerfile_text(), r"(?m)^(ENV|ARG)\s.*(TOKEN|PASSWORD|DATABASE_URL|REDIS_URL)")


class ProbesAndPorts(unittest.TestCase):
    def setUp(self):
        self.objs = k8s_objects()
        self.routes = routes()
        self.config = env_sources_values(self.objs, "coredb-config")

    def test_probes_use_the_health_routes_and_the_container_port(self):
        port = int(self.config.get("PORT", "8095"))
        deployments = [(p, pod, c) for p, kind, pod, c in coredb_containers(self.objs) if kind == "Deployment"]
        self.assertEqual(len(deployments), 1)
        _, _, c = deployments[0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports.get("http"), port, "containerPort is not PORT")
        want = {"startupProbe": "/health/live", "livenessProbe": "/health/live", "readinessProbe": "/health/ready"}
        for probe, path in want.items():
            with self.subTest(probe=probe):
                get = c[probe]["httpGet"]
                self.assertIn(get["path"], self.routes)
                self.assertEqual(get["path"], path)
                self.assertEqual(ports.get(get["port"], get["port"]), port)
        deployment = [o for _, o in self.objs if o.get("kind") == "Deployment"][0]
        self.assertEqual(deployment["spec"]["replicas"], 3)

    def test_services_and_servicemonitor_reach_the_container_port(self):
        c = [c for _, kind, _, c in coredb_containers(self.objs) if kind == "Deployment"][0]
        names = {p["name"] for p in c["ports"]}
        for _, obj in self.objs:
            if obj.get("kind") == "Service":
                for p in obj["spec"]["ports"]:
                    self.assertIn(p["targetPort"], names | {int(self.config["PORT"])})
            if obj.get("kind") == "ServiceMonitor":
                for ep in obj["spec"]["endpoints"]:
                    self.assertIn(ep["path"], self.routes)
                    creds = ep["authorization"]["credentials"]
                    self.assertEqual(creds["key"], "METRICS_TOKEN")
                    self.assertIn("METRICS_TOKEN", env_sources(self.objs, "Secret", creds["name"]))

    def test_prestop_sleep_matches_the_drain_delay_and_grace_periods_cover_the_drain(self):
        drain_ms = millis(self.config, "SHUTDOWN_DRAIN_DELAY")
        timeout_ms = millis(self.config, "SHUTDOWN_TIMEOUT")
        pod, c = [(pod, c) for _, kind, pod, c in coredb_containers(self.objs) if kind == "Deployment"][0]
        command = c["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(command[0], "sleep")
        pre_stop_s = int(command[1])
        self.assertEqual(pre_stop_s * 1000, drain_ms, "preStop sleep != SHUTDOWN_DRAIN_DELAY")
        self.assertGreater(pod["terminationGracePeriodSeconds"], pre_stop_s + (drain_ms + timeout_ms) / 1000)

        coredb = load_docs(COMPOSE)[0]["services"]["coredb"]
        env = coredb["environment"]
        grace = int(str(coredb["stop_grace_period"]).rstrip("s"))
        self.assertGreater(grace * 1000, int(env["SHUTDOWN_DRAIN_DELAY"]) + int(env["SHUTDOWN_TIMEOUT"]))
        self.assertEqual(coredb.get("stop_signal"), "SIGTERM")

    def test_compose_wiring(self):
        compose = load_docs(COMPOSE)[0]
        s = compose["services"]
        self.assertEqual(s["postgres"]["image"], "pgvector/pgvector:pg15")
        self.assertTrue(s["redis"]["image"].startswith("redis:7"))
        self.assertIn("requirepass", " ".join(s["redis"]["command"]))
        self.assertIn("/pgadmin4/servers.json", " ".join(s["pgadmin"]["volumes"]))
        self.assertEqual(s["migrate"]["command"], ["migrate"])
        self.assertEqual(s["seed"]["command"], ["seed"])
        self.assertEqual(s["seed"]["profiles"], ["seed"])
        deps = s["coredb"]["depends_on"]
        self.assertEqual(deps["postgres"]["condition"], "service_healthy")
        self.assertEqual(deps["redis"]["condition"], "service_healthy")
        self.assertEqual(deps["migrate"]["condition"], "service_completed_successfully")
        for name in ("postgres", "redis", "pgadmin", "coredb"):
            self.assertIn("healthcheck", s[name], name)
        self.assertEqual(s["coredb"]["healthcheck"]["test"], ["CMD", "coredb", "health", "--live"])
        port = s["coredb"]["environment"]["PORT"]
        self.assertTrue(any(str(p).endswith(":" + port) for p in s["coredb"]["ports"]), s["coredb"]["ports"])

    def test_dockerfile_shape(self):
        text = dockerfile_text()
        froms = re.findall(r"(?m)^FROM\s+(\S+)", text)
        self.assertGreaterEqual(len(froms), 2, "not multi-stage")
        self.assertIn("ARG DEBIAN_IMAGE=debian:bookworm-slim", text)
        self.assertRegex(text, r'(?m)^HEALTHCHECK .*CMD \["coredb", "health", "--live"\]')
        self.assertRegex(text, r"(?m)^STOPSIGNAL SIGTERM$")
        user = re.findall(r"(?m)^USER\s+(\S+)", text)[-1]
        self.assertNotIn(user.split(":")[0], ("0", "root"))
        expose = re.findall(r"(?m)^EXPOSE\s+(\d+)", text)
        self.assertEqual(expose, re.findall(r"PORT=(\d+)", text))


def env_sources_values(objs, name):
    values = {}
    for _, obj in objs:
        if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"] == name:
            values.update(obj.get("data") or {})
    return values


class Security(unittest.TestCase):
    def test_every_coredb_container_is_non_root_read_only_without_escalation(self):
        for path, kind, pod, c in coredb_containers(k8s_objects()):
            with self.subTest(path=path, kind=kind):
                sc = c["securityContext"]
                self.assertTrue(sc["runAsNonRoot"] or pod["securityContext"]["runAsNonRoot"])
                self.assertTrue(sc["readOnlyRootFilesystem"])
                self.assertFalse(sc["allowPrivilegeEscalation"])
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                self.assertNotEqual(pod["securityContext"]["runAsUser"], 0)
                self.assertIn("limits", c["resources"])
                self.assertIn("requests", c["resources"])


def package_of(lib):
    """The Debian package that ships `lib` (dpkg -S; /usr-merged paths tried both ways)."""
    candidates = [lib, os.path.realpath(lib)]
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.append(p[4:])
        else:
            candidates.append("/usr" + p)
    for p in candidates:
        out = run(["dpkg", "-S", p])
        if out.returncode == 0:
            return out.stdout.split(":")[0].strip()
    return None


def depends_closure(packages):
    """The packages and everything they depend on (installed packages' Depends/Pre-Depends)."""
    seen, todo = set(), list(packages)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        out = run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", pkg])
        if out.returncode != 0:
            continue
        for clause in out.stdout.split(","):
            for alt in clause.split("|"):
                name = alt.strip().split(" ")[0].split(":")[0]
                if name:
                    todo.append(name)
    return seen


class RuntimeLibraries(unittest.TestCase):
    def test_dockerfile_runtime_packages_cover_ldd_of_the_binary(self):
        if not shutil.which("dpkg") or not shutil.which("ldd"):
            self.skipTest("no dpkg/ldd: not a Debian machine")
        listed = re.search(r'ARG RUNTIME_PACKAGES="([^"]+)"', dockerfile_text()).group(1).split()
        ldd = run(["ldd", BINARY]).stdout
        libs = re.findall(r"=>\s+(/\S+)", ldd) + re.findall(r"^\s+(/\S+)", ldd, re.M)
        self.assertGreater(len(libs), 5, ldd)
        owners = {lib: package_of(lib) for lib in libs}
        self.assertEqual([l for l, p in owners.items() if p is None], [], "libraries dpkg does not know")
        # The libraries the binary links itself (NEEDED) come from packages the Dockerfile names.
        needed = re.findall(r"NEEDED\s+(\S+)", run(["objdump", "-p", BINARY]).stdout)
        direct = {owners[l] for l in libs if os.path.basename(l) in needed}
        self.assertEqual(direct - set(listed), set(), "packages of NEEDED libraries missing from RUNTIME_PACKAGES")
        # Everything else ldd lists arrives as their dependencies.
        closure = depends_closure(listed)
        self.assertEqual({p for p in owners.values()} - closure, set(), "ldd libraries no listed package pulls in")
        # Runtime libraries only: every listed package but the CA bundle ships a library ldd lists.
        extra = set(listed) - set(owners.values()) - {"ca-certificates"}
        self.assertEqual(extra, set(), "RUNTIME_PACKAGES names packages the binary does not need")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Binary(unittest.TestCase):
    def test_config_print_masks_passwords_and_tokens(self):
        secrets = {
            "DATABASE_URL": "postgresql://coredb:pg-secret-7f3a@db.internal:5432/coredb",
            "VECTOR_URL": "host=vec user=svc password='vec-secret-91bd' dbname=v",
            "REDIS_URL": "redis://svc:redis-secret-c41e@cache:6379/0",
            "COREDB_ADMIN_TOKEN": "admin-secret-0123456789",
            "METRICS_TOKEN": "metrics-secret-0123456789",
            "PG_PASSWORD": "pgpass-secret-55",
            "REDIS_PASSWORD": "redispass-secret-66",
        }
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "0.0.0.0", **secrets}
        for args in (["config", "print"], ["--print-config"]):
            out = run([BINARY] + args, env=env)
            self.assertEqual(out.returncode, 0, out.stderr)
            for name, value in secrets.items():
                secret = re.search(r"(pg|vec|redis|admin|metrics|pgpass|redispass)-secret-\w+", value).group(0)
                self.assertNotIn(secret, out.stdout + out.stderr, "%s leaked by %s" % (name, args))
            self.assertIn("DATABASE_URL=postgresql://coredb:****@db.internal:5432/coredb\n", out.stdout)
            self.assertIn("REDIS_URL=redis://svc:****@cache:6379/0\n", out.stdout)
            self.assertIn("COREDB_ADMIN_TOKEN=****\n", out.stdout)
            self.assertIn("HOST=0.0.0.0\n", out.stdout)
            self.assertIn("PORT=8095  # default\n", out.stdout)
        names = {line.split("=")[0] for line in out.stdout.splitlines() if line and not line.startswith("#")}
        self.assertEqual(names, known_vars())

    def test_config_print_of_an_invalid_configuration_exits_2_and_names_the_problem(self):
        out = run([BINARY, "config", "print"], env={"PORT": "http", "COREDB_ADMIN_TOKEN": "short-secret"})
        self.assertEqual(out.returncode, 2)
        self.assertIn("config: PORT must be an integer", out.stderr)
        self.assertNotIn("short-secret", out.stdout + out.stderr)

    def test_health_live_probes_the_live_route_on_port(self):
        status = {"code": 200}
        paths = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                paths.append(self.path)
                self.send_response(status["code"] if self.path == "/health/live" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            env = {"HOST": "0.0.0.0", "PORT": str(server.server_address[1])}  # 0.0.0.0 → loopback
            out = run([BINARY, "health", "--live"], env=env)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertEqual(paths, ["/health/live"])
            status["code"] = 503
            out = run([BINARY, "health", "--live"], env=env)
            self.assertEqual(out.returncode, 1, out.stdout)
            self.assertIn("status 503", out.stdout)
        finally:
            server.shutdown()
            server.server_close()
        out = run([BINARY, "health", "--live"], env={"PORT": str(free_port())})
        self.assertEqual(out.returncode, 1)
        self.assertIn("live: DOWN", out.stdout)


def render_checks():
    """--tools: render the overlay and the compose file with the real tools and check the result."""
    ran = []
    kubectl = shutil.which("kubectl")
    if kubectl:
        # `labels` and `patches` need kustomize >= 4.5 (kubectl >= 1.24; Debian 12's
        # kubernetes-client is 1.20).
        version = run([kubectl, "version", "--client", "-o", "json"]).stdout
        match = re.search(r'"kustomizeVersion":\s*"v?(\d+)\.(\d+)', version)
        if not match or (int(match.group(1)), int(match.group(2))) < (4, 5):
            print("SKIP kubectl kustomize: this kubectl's kustomize is older than 4.5 (%s)" % kubectl)
            kubectl = None
    if kubectl:
        for target in ("base", os.path.join("overlays", "production")):
            out = run([kubectl, "kustomize", os.path.join(K8S, target)], timeout=60)
            assert out.returncode == 0, "kubectl kustomize %s: %s" % (target, out.stderr)
            objs = [("kustomize " + target, d) for d in yaml.safe_load_all(out.stdout) if d]
            found = k8s_env(objs)
            unknown = sorted(set(found) - known_vars())
            assert not unknown, "rendered %s sets unknown variables %s" % (target, unknown)
            ran.append("kubectl kustomize %s (%d objects)" % (target, len(objs)))
    else:
        print("SKIP kubectl kustomize: kubectl is not installed")
    compose = [shutil.which("docker-compose")] if shutil.which("docker-compose") else None
    if not compose and shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        compose = ["docker", "compose"]
    if compose:
        for profile in ([], ["--profile", "seed"]):
            out = run(compose + ["-f", COMPOSE] + profile + ["config"], timeout=60)
            assert out.returncode == 0, "docker-compose config: %s" % out.stderr
            rendered = yaml.safe_load(out.stdout)
            unknown = sorted(set(compose_env(rendered)) - known_vars())
            assert not unknown, "rendered compose file sets unknown variables %s" % unknown
        ran.append("%s config (with and without --profile seed)" % " ".join(compose))
    else:
        print("SKIP docker-compose config: docker-compose is not installed")
    return ran


def main():
    global BINARY
    args = sys.argv[1:]
    tools = args[:1] == ["--tools"]
    if tools:
        args = args[1:]
    if len(args) != 1:
        print(__doc__)
        return 2
    BINARY = os.path.abspath(args[0])
    if tools:
        ran = render_checks()
        for line in ran:
            print("ok: " + line)
        if not ran:
            print("SKIPPED: neither kubectl nor docker-compose is installed (nothing rendered)")
            return SKIP
        return 0
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
