#!/usr/bin/env bash
# Validates the manifests against the Kubernetes API schemas
# (kubernetes-validate, from PyPI, in a private virtualenv), then checks the
# settings this deployment relies on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${KUBE_VALIDATE_VENV:-$here/../../target/kube-validate}"

if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
fi

cd "$here"
"$venv/bin/kubernetes-validate" --strict --quiet configmap.yaml secret.example.yaml pvc.yaml \
  inbox-pvc.yaml inbox-upload.yaml deployment.yaml
echo "kubernetes-validate --strict: manifests match the Kubernetes 1.37 schemas"

"$venv/bin/python" - <<'PY'
import sys, yaml

d = yaml.safe_load(open("deployment.yaml"))
spec = d["spec"]
pod = spec["template"]["spec"]
c = pod["containers"][0]
checks = {
    "one replica": spec["replicas"] == 1,
    "Recreate strategy": spec["strategy"]["type"] == "Recreate",
    "pod runAsNonRoot": pod["securityContext"]["runAsNonRoot"] is True,
    "container runAsNonRoot": c["securityContext"]["runAsNonRoot"] is True,
    "readOnlyRootFilesystem": c["securityContext"]["readOnlyRootFilesystem"] is True,
    "drop ALL capabilities": c["securityContext"]["capabilities"]["drop"] == ["ALL"],
    "no privilege escalation": c["securityContext"]["allowPrivilegeEscalation"] is False,
    "liveness on /healthz": c["livenessProbe"]["httpGet"]["path"] == "/healthz",
    "readiness on /readyz": c["readinessProbe"]["httpGet"]["path"] == "/readyz",
    "state on the PVC": any(v.get("persistentVolumeClaim", {}).get("claimName") == "wfm-publisher-state" for v in pod["volumes"]),
    "secret mounted": any(v.get("secret", {}).get("secretName") == "wfm-publisher" for v in pod["volumes"]),
    "config mounted": any(v.get("configMap", {}).get("name") == "wfm-publisher" for v in pod["volumes"]),
    "the inbox on its own volume, where the targets look": any(v.get("persistentVolumeClaim", {}).get("claimName") == "wfm-publisher-inbox" for v in pod["volumes"])
        and any(m["name"] == "inbox" and m["mountPath"] == "/var/lib/wfm-publisher/inbox" and m.get("readOnly") for m in c["volumeMounts"])
        and "inbox-pvc.yaml" in yaml.safe_load(open("kustomization.yaml"))["resources"],
}
failed = [name for name, ok in checks.items() if not ok]
for name in failed:
    print(f"deployment.yaml: {name}: not as required", file=sys.stderr)
sys.exit(1 if failed else 0)
PY
echo "deployment settings: as required"

"$venv/bin/kubernetes-validate" --strict --quiet ha/deployment.yaml ha/pdb.yaml ha/database-secret.example.yaml ha/inbox-pvc.yaml
"$venv/bin/python" - <<'PY'
import sys, yaml

d = yaml.safe_load(open("ha/deployment.yaml"))
pdb = yaml.safe_load(open("ha/pdb.yaml"))
k = yaml.safe_load(open("ha/kustomization.yaml"))
pod = d["spec"]["template"]["spec"]
c = pod["containers"][0]
env = {e["name"]: e for e in c.get("env", [])}
url = env.get("WFM_PUBLISHER__STORE__URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
checks = {
    "two replicas": d["spec"]["replicas"] == 2,
    "database URL from the Secret": url.get("name") == "wfm-publisher-database" and url.get("key") == "url",
    "password as a file": "WFM_PUBLISHER__STORE__PASSWORD_FILE" in env,
    "no state PVC": not any(v.get("persistentVolumeClaim", {}).get("claimName") == "wfm-publisher-state" for v in pod["volumes"]),
    "the inbox on a shared volume": any(v.get("persistentVolumeClaim", {}).get("claimName") == "wfm-publisher-inbox" for v in pod["volumes"])
        and yaml.safe_load(open("ha/inbox-pvc.yaml"))["spec"]["accessModes"] == ["ReadWriteMany"]
        and "inbox-pvc.yaml" in k["resources"],
    "the inbox where the targets look": any(m["name"] == "inbox" and m["mountPath"] == "/var/lib/wfm-publisher/inbox" and m.get("readOnly") for m in c["volumeMounts"])
        and "/var/lib/wfm-publisher/inbox/" in open("configmap.yaml").read(),
    "PDB keeps one": pdb["spec"]["minAvailable"] == 1,
    "PDB selects the pods": pdb["spec"]["selector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"],
    "kustomization lists the PDB": "pdb.yaml" in k["resources"],
    "readiness on /readyz": c["readinessProbe"]["httpGet"]["path"] == "/readyz",
}
failed = [name for name, ok in checks.items() if not ok]
for name in failed:
    print(f"ha/: {name}: not as required", file=sys.stderr)
sys.exit(1 if failed else 0)
PY
echo "ha/: two replicas, PDB, database URL from a Secret, the inbox on a ReadWriteMany volume: as required"

# What `kubectl apply -k` would apply, for both layouts: never a Secret (it
# would replace the one created with kubectl by a placeholder), the image
# as the kustomization names it with the release's version, and no mention
# of a Service that is not there.
"$venv/bin/python" - <<'PY'
import os, re, sys, yaml

version = re.search(r'^version = "(.*)"$', open("../../Cargo.toml").read(), re.M).group(1)
problems = []
for layout in [".", "ha"]:
    k = yaml.safe_load(open(os.path.join(layout, "kustomization.yaml")))
    docs = []
    for res in k["resources"]:
        path = os.path.normpath(os.path.join(layout, res))
        text = open(path).read()
        docs += [(path, text, d) for d in yaml.safe_load_all(text) if d]
    kinds = {d["kind"] for _, _, d in docs}
    for path, text, d in docs:
        if d["kind"] == "Secret":
            problems.append(f"{layout}: kubectl apply -k would apply the Secret of {path}")
        if re.search(r"\bthe Service\b", text, re.I) and "Service" not in kinds:
            problems.append(f"{path} mentions a Service the kustomization does not create")
        if d["kind"] == "Deployment":
            image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            if image != "wfm-publisher":
                problems.append(f"{path}: image {image}, not the kustomization's wfm-publisher")
    images = {i["name"]: i for i in k.get("images", [])}
    if images.get("wfm-publisher", {}).get("newTag") != version:
        problems.append(f"{layout}/kustomization.yaml: the image is not tagged {version} (Cargo.toml)")
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
echo "kubectl apply -k: no Secret carried over the real ones, image wfm-publisher tagged with the release, no missing Service"
