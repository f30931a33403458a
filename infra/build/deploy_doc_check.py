"""The offline half of `make deploy-doc-test` (infra/build/deploy_doc_test.sh).

    deploy_doc_check.py docs/deploy.md OUT_DIR

Splits docs/deploy.md's ```sh blocks by their first line (every block must have one of
TAGS) into OUT_DIR/offline.sh and OUT_DIR/local.sh, which the shell script runs, and
lists the blocks that need AWS or Meta themselves. Then checks what those blocks rely on
without running them: the stack outputs and logical ids they read exist in the
templates, the SSM names are the template's defaults, samconfig.toml has the settings
the guide promises, and deploy/cognito.yaml's trigger turns custom:role and
custom:queues into the claims shared/src/app/auth.rs reads.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

OFFLINE = "# offline"
LOCAL = "# AWS, tested on the local stack"
TAGS = {OFFLINE, LOCAL, "# build", "# AWS", "# Meta"}

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


class AnyTagLoader(yaml.SafeLoader):
    """CloudFormation's short forms (!Ref, !Sub, !GetAtt) read as plain values."""


def _any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


AnyTagLoader.add_multi_constructor("!", _any_tag)


def load_template(path):
    return yaml.load(Path(path).read_text(), Loader=AnyTagLoader)


def blocks(doc):
    """(tag, text) of every ```sh block, in order."""
    out = []
    for match in re.finditer(r"^```sh\n(.*?)^```\n", doc, re.S | re.M):
        text = match.group(1)
        tag = text.splitlines()[0].strip() if text.strip() else ""
        line = doc[: match.start()].count("\n") + 1
        out.append((tag, text, line))
    return out


def main():
    doc_path, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    doc = doc_path.read_text()
    found = blocks(doc)
    check(len(found) > 0, f"{doc_path} has command blocks ({len(found)})")
    for tag, _, line in found:
        check(tag in TAGS, f"the block at line {line} says what it needs ({tag!r})")
    (out_dir / "offline.sh").write_text("".join(t for tag, t, _ in found if tag == OFFLINE))
    (out_dir / "local.sh").write_text("".join(t for tag, t, _ in found if tag == LOCAL))
    counts = {tag: sum(1 for t, _, _ in found if t == tag) for tag in sorted(TAGS)}
    print("blocks: " + ", ".join(f"{n} {tag[2:]!r}" for tag, n in counts.items()))
    print("not run offline (they need AWS or Meta themselves, or are `make build`):")
    for tag, text, line in found:
        if tag not in (OFFLINE, LOCAL):
            for command in text.splitlines()[1:]:
                if command.strip():
                    print(f"  line {line} [{tag[2:]}] {command.strip()}")

    template = load_template("template.yaml")
    cognito = load_template("deploy/cognito.yaml")

    # What the AWS-only blocks read from the stacks.
    for key in sorted(set(re.findall(r"\$\(out (\w+)\)", doc))):
        check(key in template["Outputs"], f"template.yaml has the output {key}")
    for key in sorted(set(re.findall(r"\$\(identity (\w+)\)", doc))):
        check(key in cognito["Outputs"], f"deploy/cognito.yaml has the output {key}")
    for logical in sorted(set(re.findall(r"--logical-resource-id (\w+)", doc))):
        check(logical in template["Resources"], f"template.yaml has the resource {logical}")
    defaults = {
        p: template["Parameters"][p]["Default"]
        for p in ("VerifyTokenParameterName", "AppSecretParameterName", "GraphTokenParameterName")
    }
    for param, name in defaults.items():
        check(f"--name {name} " in doc, f"the guide stores {param}'s default, {name}")
    for param in ("JwtIssuer", "JwtAudience"):
        check("Default" not in template["Parameters"][param] and f"{param}=" in doc,
              f"the guide passes the required {param}")
    table = template["Resources"]["ConversationsTable"]
    check(table.get("DeletionPolicy") == "Retain", "the table is kept on delete, as the guide says")
    check(f"--table-name {template['Resources']['ConversationsTable']['Properties']['TableName'].replace('${AWS::StackName}', 'conversa')}" in doc,
          "the guide deletes the table by its name")
    check(cognito["Resources"]["UserPool"].get("DeletionPolicy") == "Retain",
          "the user pool is kept on delete, as the guide says")

    # samconfig.toml: no flags beyond the parameters.
    config = tomllib.loads(Path("samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    check(config["default"]["global"]["parameters"]["stack_name"] == "conversa",
          "samconfig.toml: the stack is conversa")
    check("CAPABILITY_IAM" in deploy["capabilities"].split(), "samconfig.toml: CAPABILITY_IAM")
    check(deploy.get("resolve_s3") is True, "samconfig.toml: resolve_s3")
    check(deploy.get("confirm_changeset") is True and deploy.get("fail_on_empty_changeset") is False,
          "samconfig.toml: confirm the change set, an empty one is no error")
    build = config["default"]["build"]["parameters"]
    check(build.get("cached") is False and build.get("parallel") is False,
          "samconfig.toml: sam build neither cached nor parallel")
    identity = config["identity"]
    check(identity["global"]["parameters"]["stack_name"] == "conversa-identity"
          and Path(identity["deploy"]["parameters"]["template_file"]) == Path("deploy/cognito.yaml"),
          "samconfig.toml: the identity environment deploys deploy/cognito.yaml as conversa-identity")
    check("CAPABILITY_IAM" in identity["deploy"]["parameters"]["capabilities"].split(),
          "samconfig.toml: the identity stack may create its trigger's role")

    # The Cognito trigger, run on Cognito's V1_0 event: the claims auth.rs reads.
    pool = cognito["Resources"]["UserPool"]["Properties"]
    check(pool["LambdaConfig"]["PreTokenGenerationConfig"]["LambdaVersion"] == "V1_0",
          "deploy/cognito.yaml: the trigger's event version is V1_0 (the ID token)")
    check({a["Name"] for a in pool["Schema"]} == {"role", "queues"},
          "deploy/cognito.yaml: custom:role and custom:queues exist")
    client = cognito["Resources"]["UserPoolClient"]["Properties"]
    check(not any(a.startswith("custom:") for a in client["WriteAttributes"]),
          "deploy/cognito.yaml: users cannot set their own role or queues")
    check(pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True,
          "deploy/cognito.yaml: no self sign-up")
    code = cognito["Resources"]["ClaimsFunction"]["Properties"]["Code"]["ZipFile"]
    scope = {}
    exec(compile(code, "deploy/cognito.yaml:ClaimsFunction", "exec"), scope)

    def claims(attributes):
        event = {
            "version": "1",
            "triggerSource": "TokenGeneration_Authentication",
            "request": {"userAttributes": attributes, "groupConfiguration": {}},
            "response": {"claimsOverrideDetails": None},
        }
        out = scope["handler"](event, None)
        return out["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]

    got = claims({"sub": "x", "custom:role": "supervisor", "custom:queues": "support sales"})
    check(got.get("role") == "supervisor" and json.loads(got["queues"]) == ["support", "sales"],
          f"trigger: a supervisor of support and sales -> {got}")
    check(all(isinstance(v, str) for v in got.values()), "trigger: every claim a string (V1_0)")
    got = claims({"custom:role": "agent", "custom:queues": "support, sales"})
    check(json.loads(got["queues"]) == ["support", "sales"], f"trigger: commas separate queues too -> {got}")
    got = claims({"custom:role": "admin"})
    check("role" not in got and json.loads(got["queues"]) == [],
          f"trigger: an unknown role gives no role claim (403) -> {got}")
    got = claims({})
    check("role" not in got, f"trigger: no role attribute, no role claim -> {got}")

    if failures:
        print(f"deploy-doc-test: {len(failures)} offline check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
