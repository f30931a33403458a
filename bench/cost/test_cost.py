"""`python3 -m unittest bench/cost/test_cost.py` (or `python3 bench/cost/test_cost.py`)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cost  # noqa: E402


def price(usd, per=1_000_000, unit="unit"):
    return {"label": unit, "usd": usd, "per": per, "unit": unit, "source": "x", "date": "d"}


# One path, computed by hand below.
HAND = {
    "region": "test",
    "computed_on": "today",
    "prices": {
        "lambda_request": price(0.20),
        "lambda_gb_second_arm64": price(0.00001, per=1),
        "sqs_fifo_request": price(0.50),
        "sqs_standard_request": price(0.40),
        "dynamodb_rru": price(0.125),
        "dynamodb_wru": price(0.625),
        "eventbridge_event": price(1.00),
        "apigw_http_request": price(1.00),
        "apigw_ws_message": price(1.00),
        "cloudwatch_logs_gb": price(0.50, per=1),
    },
    "lambda": {
        "memory_mb": {"f": 1024, "n": 512},
        "base_ms": 10,
        "latency_ms": {"sqs.SendMessageBatch": 20, "dynamodb.GetItem": 20,
                       "dynamodb.TransactWriteItems": 50, "events.PutEvents": 0,
                       "apigw.PostToConnection": 40},
        "logs_kb_per_invocation": 1024,
    },
    "dynamodb": {
        "item_kb": {"big": 5.0, "conv": 1.5, "small": 1.0},
        "gsi_write_multiplier_in_transactions": 1,
    },
    "shared_steps": {
        "read_eventually": [
            {"step": "eventually consistent read of 1 KB",
             "calls": [{"op": "dynamodb.GetItem", "item": "small", "consistent": False}]},
        ],
    },
    "paths": {
        "p": {
            "title": "P", "unit": "thing", "flow": "a → b",
            "steps": [
                {"step": "request", "http_requests": 1},
                {"step": "function", "lambda": {"function": "f"},
                 "calls": [
                     {"op": "sqs.SendMessageBatch", "queue": "fifo", "kb": 100},
                     {"op": "dynamodb.GetItem", "item": "big"},
                     {"op": "dynamodb.TransactWriteItems",
                      "items": [{"item": "conv", "gsi_writes": 2}]},
                     {"op": "events.PutEvents", "events": 1},
                 ]},
                {"use": "read_eventually", "times": 2},
                {"step": "push", "separate": "push", "lambda": {"function": "n"},
                 "calls": [{"op": "apigw.PostToConnection", "count": 3}]},
            ],
        },
    },
    "separate": {"push": "Push"},
}


class HandComputed(unittest.TestCase):
    def test_units(self):
        total, separate, _ = cost.path_units(HAND["paths"]["p"], HAND)
        expected = {
            "apigw_http_requests": 1,
            "lambda_requests": 1,
            # 10 ms base + 20 (SQS) + 20 (GetItem) + 50 (transaction) = 100 ms at 1 GB.
            "lambda_gb_s": 0.1,
            # 100 KB in one SendMessageBatch: two 64 KB chunks.
            "sqs_fifo_requests": 2,
            # 5 KB strongly consistent: 2 RRU; twice 1 KB eventually consistent: 2 × 0.5.
            "dynamodb_rru": 3,
            # 1.5 KB in a transaction: 2 × 2 WRU, and 2 index entries of 2 KB: 2 × 2.
            "dynamodb_wru": 8,
            "eventbridge_events": 1,
            # One invocation of 1024 KB of logs: 1/1024 GB.
            "cloudwatch_logs_gb": 1 / 1024,
        }
        self.assertEqual(set(total), set(expected))
        for k, v in expected.items():
            self.assertAlmostEqual(total[k], v, places=9, msg=k)
        # The push is its own group: one invocation of 10 + 3 × 40 ms at 0.5 GB.
        push = separate["push"]
        self.assertAlmostEqual(push["apigw_ws_messages"], 3)
        self.assertAlmostEqual(push["lambda_gb_s"], 0.13 * 0.5)

    def test_cost_per_million(self):
        total, separate, _ = cost.path_units(HAND["paths"]["p"], HAND)
        # $ per 1M: API Gateway 1.00 + Lambda requests 0.20 + GB-s 0.1 × 1M × 0.00001
        # (1.00) + SQS 2 × 0.50 + RRU 3 × 0.125 + WRU 8 × 0.625 + events 1.00.
        self.assertAlmostEqual(cost.cost(total, HAND["prices"]), 9.575, places=9)
        # Push: 0.20 + 0.065 × 10 + 3 × 1.00.
        self.assertAlmostEqual(cost.cost(separate["push"], HAND["prices"]), 3.85, places=9)

    def test_table(self):
        block = cost.tables(HAND)
        # 9.575 is 9.57499... in binary: shown 9.57.
        self.assertIn("| thing | 9.57 | 0.0000096 | DynamoDB write request units (52%) |", block)
        self.assertIn("| DynamoDB write request units | 8 | 5.00 |", block)
        self.assertIn("| **total** | | **9.57** |", block)
        self.assertIn("| Push | 3.85 |", block)


class Markers(unittest.TestCase):
    def test_replaces_between_markers_only(self):
        text = f"before\n{cost.BEGIN}\nold\n{cost.END}\nafter\n"
        out = cost.write_between_markers(text, "new\n")
        self.assertEqual(out, f"before\n{cost.BEGIN}\nnew\n{cost.END}\nafter\n")
        self.assertEqual(cost.write_between_markers(out, "new\n"), out)

    def test_missing_markers_fail(self):
        with self.assertRaises(ValueError):
            cost.write_between_markers("no markers here", "x")


class RepositoryInputs(unittest.TestCase):
    def test_every_path_computes(self):
        with open(cost.INPUTS, encoding="utf-8") as f:
            inputs = json.load(f)
        block = cost.tables(inputs)
        for p in inputs["paths"].values():
            self.assertIn(f"**{p['title']}**", block)
            total = cost.path_units(p, inputs)[0]
            self.assertGreater(cost.cost(total, inputs["prices"]), 0)


if __name__ == "__main__":
    unittest.main()
