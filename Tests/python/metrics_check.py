"""Reads a `/metrics` page with the Prometheus project's own text parser (`prometheus_client`,
installed by scripts/test-python) and checks families: name, type, and for histograms that they
have buckets ending in +Inf with cumulative counts."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def families(url):
    """{family name: family} of the exposition at `url`."""
    with urllib.request.urlopen(url, timeout=30) as response:
        content_type = response.headers.get("Content-Type", "")
        assert content_type.startswith("text/plain"), content_type
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def check(test, found, expected, where):
    """`expected` maps family names (as the parser names them: counters without `_total`) to types."""
    for name, kind in expected.items():
        test.assertTrue(name in found, "%s: no %s family in %s" % (where, name, sorted(found)))
        test.assertEqual(found[name].type, kind, "%s: %s" % (where, name))
        if kind == "histogram":
            buckets = [s for s in found[name].samples if s.name == name + "_bucket"]
            test.assertGreater(len(buckets), 1, "%s: %s has no buckets" % (where, name))
            bounds = [s.labels["le"] for s in buckets]
            test.assertIn("+Inf", bounds, "%s: %s" % (where, name))
            counts = [s.value for s in buckets if s.labels["le"] == "+Inf"]
            total = [s.value for s in found[name].samples if s.name == name + "_count"]
            test.assertEqual(sum(counts), sum(total), "%s: %s +Inf bucket != count" % (where, name))
