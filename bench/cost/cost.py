#!/usr/bin/env python3
"""AWS cost per 1M inbound messages, agent sends and campaign recipients (`make cost`).

Reads bench/cost/inputs.json (prices, Lambda memory and duration model, DynamoDB item
sizes, and per path the AWS calls each step makes), prints the markdown tables and, with
--write, puts them into docs/performance.md between the cost markers. --steps also prints
each step's units, to see where a total comes from. Python 3 standard library only.
"""

import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INPUTS = os.path.join(HERE, "inputs.json")
DOC = os.path.join(ROOT, "docs", "performance.md")
BEGIN = "<!-- cost:begin -->"
END = "<!-- cost:end -->"

# Billed quantities, in the order the tables show them, and the price each is billed at.
SERVICES = [
    ("apigw_http_requests", "apigw_http_request", "API Gateway HTTP API requests"),
    ("lambda_requests", "lambda_request", "Lambda requests"),
    ("lambda_gb_s", "lambda_gb_second_arm64", "Lambda arm64 GB-s"),
    ("sqs_fifo_requests", "sqs_fifo_request", "SQS FIFO requests"),
    ("sqs_standard_requests", "sqs_standard_request", "SQS standard requests"),
    ("dynamodb_rru", "dynamodb_rru", "DynamoDB read request units"),
    ("dynamodb_wru", "dynamodb_wru", "DynamoDB write request units"),
    ("eventbridge_events", "eventbridge_event", "EventBridge custom events"),
    ("apigw_ws_messages", "apigw_ws_message", "API Gateway WebSocket messages"),
]
LOGS = ("cloudwatch_logs_gb", "cloudwatch_logs_gb", "CloudWatch Logs ingestion")
PER = 1_000_000


def up(x):
    """Rounds up to a whole unit, ignoring float noise (1.0000000001 is 1)."""
    return math.ceil(round(x, 9))


def expand(steps, shared, times=1.0):
    """The steps with every {"use": name} replaced by the shared steps, `times` applied."""
    out = []
    for s in steps:
        t = times * s.get("times", 1)
        if "use" in s:
            out.extend(expand(shared[s["use"]], shared, t))
        else:
            step = dict(s)
            step["times"] = t
            out.append(step)
    return out


def step_units(step, inputs):
    """What one execution of a step is billed for, as {quantity: units} (before `times`)."""
    ddb = inputs["dynamodb"]
    kb = ddb["item_kb"]
    lam = inputs["lambda"]
    u = {}

    def add(key, n):
        u[key] = u.get(key, 0.0) + n

    if step.get("http_requests"):
        add("apigw_http_requests", step["http_requests"])
    wait_ms = 0.0
    for c in step.get("calls", []):
        op = c["op"]
        count = c.get("count", 1)
        wait_ms += lam["latency_ms"].get(op, 0) * count
        service, _, action = op.partition(".")
        if service == "sqs":
            chunks = up(c.get("kb", 1) / 64)
            add("sqs_fifo_requests" if c["queue"] == "fifo" else "sqs_standard_requests",
                count * chunks)
        elif op == "events.PutEvents":
            add("eventbridge_events", count * c.get("events", 1) * up(c.get("kb", 1) / 64))
        elif op == "apigw.PostToConnection":
            add("apigw_ws_messages", count * up(c.get("kb", 1) / 32))
        elif service == "dynamodb":
            consistent = 1.0 if c.get("consistent", True) else 0.5
            if action == "GetItem":
                add("dynamodb_rru", count * consistent * up(kb[c["item"]] / 4))
            elif action == "Query":
                add("dynamodb_rru",
                    count * consistent * max(1, up(c["items_read"] * kb[c["item"]] / 4)))
            elif action in ("PutItem", "UpdateItem", "DeleteItem"):
                size = up(kb[c["item"]])
                add("dynamodb_wru", count * size * (1 + c.get("gsi_writes", 0)))
            elif action == "TransactWriteItems":
                gsi = ddb["gsi_write_multiplier_in_transactions"]
                for item in c["items"]:
                    size = up(kb[item["item"]])
                    wru = 2 * size + gsi * size * item.get("gsi_writes", 0)
                    add("dynamodb_wru", count * item.get("share", 1) * wru)
            else:
                raise ValueError(f"unknown DynamoDB operation {op}")
        elif service != "graph":
            raise ValueError(f"unknown operation {op}")
    if "lambda" in step:
        f = step["lambda"]
        invocations = f.get("invocations", 1)
        duration_ms = (invocations * lam["base_ms"] + f.get("extra_ms", 0)
                       + wait_ms / f.get("concurrency", 1))
        memory_gb = lam["memory_mb"][f["function"]] / 1024
        add("lambda_requests", invocations)
        add("lambda_gb_s", duration_ms / 1000 * memory_gb)
        add("cloudwatch_logs_gb", invocations * lam["logs_kb_per_invocation"] / 1024 / 1024)
        u["_ms"] = duration_ms
    return u


def path_units(path, inputs):
    """Per unit of the path (one message, send or recipient): the total and the separate
    groups, each {quantity: units}, and the expanded steps with their own units."""
    total, separate, steps = {}, {}, []
    for step in expand(path["steps"], inputs.get("shared_steps", {})):
        u = step_units(step, inputs)
        steps.append((step, u))
        target = separate.setdefault(step["separate"], {}) if step.get("separate") else total
        for k, v in u.items():
            if not k.startswith("_"):
                target[k] = target.get(k, 0.0) + step["times"] * v
    return total, separate, steps


def usd_per_million(units, price_key, prices):
    p = prices[price_key]
    return units * PER * p["usd"] / p["per"]


def cost(units, prices, with_logs=False):
    keys = SERVICES + ([LOGS] if with_logs else [])
    return sum(usd_per_million(units.get(q, 0.0), pk, prices) for q, pk, _ in keys)


def fmt_units(x):
    if x == 0:
        return "0"
    if abs(x - round(x)) < 1e-9:
        return f"{round(x):,}"
    if x >= 0.1:
        return f"{x:,.2f}".rstrip("0").rstrip(".")
    return f"{x:.2g}" if x >= 0.001 else f"{x:.1e}"


def fmt_usd(x):
    return f"{x:,.2f}"


def fmt_price(p):
    """`0.20 per 1M requests`, `0.0000133334 per GB-s`."""
    usd = f"{p['usd']:.10f}".rstrip("0")
    if len(usd.split(".")[1]) < 2:
        usd = f"{p['usd']:.2f}"
    per = f"1M {p['unit']}" if p["per"] == PER else (
        p["unit"] if p["per"] == 1 else f"{p['per']:,} {p['unit']}")
    return f"{usd} per {per}"


def tables(inputs):
    """The markdown put between the markers."""
    prices = inputs["prices"]
    paths = inputs["paths"]
    computed = {name: path_units(p, inputs) for name, p in paths.items()}
    mem = sorted(set(inputs["lambda"]["memory_mb"].values()))
    lines = [
        f"Generated by `make cost` from `bench/cost/inputs.json` ({inputs['region']}, "
        f"computed {inputs['computed_on']}; Lambda arm64 at "
        f"{'/'.join(str(m) for m in mem)} MB). Every count, size, latency and price is in "
        "that file; `python3 bench/cost/cost.py --steps` shows each step's share.",
        "",
        "| path | AWS $ per 1M | $ per message | largest line |",
        "|---|---:|---:|---|",
    ]
    for name, p in paths.items():
        total = computed[name][0]
        usd = cost(total, prices)
        parts = [(usd_per_million(total.get(q, 0.0), pk, prices), label)
                 for q, pk, label in SERVICES]
        top = max(parts)
        lines.append(f"| {p['unit']} | {fmt_usd(usd)} | {usd / PER:.7f} | "
                     f"{top[1]} ({top[0] / usd:.0%}) |")
    for name, p in paths.items():
        total = computed[name][0]
        lines += [
            "",
            f"**{p['title']}**: {p['flow']}.",
            "",
            f"| service | units per {p['unit']} | $ per 1M |",
            "|---|---:|---:|",
        ]
        for q, pk, label in SERVICES:
            n = total.get(q, 0.0)
            if n:
                lines.append(f"| {label} | {fmt_units(n)} | "
                             f"{fmt_usd(usd_per_million(n, pk, prices))} |")
        lines.append(f"| **total** | | **{fmt_usd(cost(total, prices))}** |")
    # Outside the totals: the separate groups (the push) and the logs.
    names = list(paths)
    header = "| outside the totals, $ per 1M | " + " | ".join(
        paths[n]["unit"] for n in names) + " |"
    lines += ["", header, "|---|" + "---:|" * len(names)]
    for group, label in inputs.get("separate", {}).items():
        row = [cost(computed[n][1].get(group, {}), prices) for n in names]
        lines.append(f"| {label} | " + " | ".join(fmt_usd(x) for x in row) + " |")
    logs_kb = inputs["lambda"]["logs_kb_per_invocation"]
    row = []
    for n in names:
        gb = computed[n][0].get(LOGS[0], 0.0) + sum(
            g.get(LOGS[0], 0.0) for g in computed[n][1].values())
        row.append(usd_per_million(gb, LOGS[1], prices))
    lines.append(f"| {LOGS[2]} ({logs_kb:g} KB per invocation) | "
                 + " | ".join(fmt_usd(x) for x in row) + " |")
    # What a managed contact center charges per message, against these totals.
    managed = inputs.get("managed", {}).get("rows", [])
    if managed:
        ours = {n: cost(computed[n][0], prices) for n in ("inbound", "agent_send") if n in paths}
        lines += ["", "| managed contact center, per message | $ per message | $ per 1M | "
                  + " | ".join(f"× conversa's {paths[n]['unit']}" for n in ours)
                  + " | source (date) |",
                  "|---|---:|---:|" + "---:|" * len(ours) + "---|"]
        for m in managed:
            per_m = m["usd_per_message"] * PER
            lines.append(f"| {m['name']} | {m['usd_per_message']:g} | {per_m:,.0f} | "
                         + " | ".join(f"{per_m / v:,.0f}×" for v in ours.values())
                         + f" | <{m['source']}> ({m['date']}) |")
    # The prices, with their sources and dates.
    lines += ["", f"| price ({inputs['region']}) | $ | source (date) |", "|---|---|---|"]
    for p in prices.values():
        lines.append(f"| {p['label']} | {fmt_price(p)} | <{p['source']}> ({p['date']}) |")
    return "\n".join(lines) + "\n"


def steps_report(inputs):
    """Each step's units per path unit (console only)."""
    out = []
    for name, p in inputs["paths"].items():
        out.append(f"\n{p['title']} (per {p['unit']}):")
        for step, u in path_units(p, inputs)[2]:
            t = step["times"]
            parts = [f"{q}={fmt_units(t * u[q])}" for q, _, _ in SERVICES if u.get(q)]
            if "_ms" in u:
                parts.append(f"{step['lambda']['function']} {u['_ms']:.0f} ms")
            tag = f" [{step['separate']}]" if step.get("separate") else ""
            out.append(f"  x{fmt_units(t):>6} {step['step']}{tag}: " + ", ".join(parts))
    return "\n".join(out)


def write_between_markers(text, block):
    """`text` with what lies between the cost markers replaced by `block`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{BEGIN} ... {END} not found")
    return text[: start + len(BEGIN)] + "\n" + block + text[end:]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true",
                    help=f"write the tables into {os.path.relpath(DOC, ROOT)}")
    ap.add_argument("--steps", action="store_true", help="also print each step's units")
    ap.add_argument("--inputs", default=INPUTS)
    args = ap.parse_args(argv)
    with open(args.inputs, encoding="utf-8") as f:
        inputs = json.load(f)
    block = tables(inputs)
    print(block, end="")
    if args.steps:
        print(steps_report(inputs))
    if args.write:
        with open(DOC, encoding="utf-8") as f:
            text = f.read()
        with open(DOC, "w", encoding="utf-8") as f:
            f.write(write_between_markers(text, block))
        print(f"written to {os.path.relpath(DOC, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
