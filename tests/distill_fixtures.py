"""A tiny store with the task views that distillation reads (plain tables, same columns)."""

from pathlib import Path

import duckdb

ITEMS = {
    "i1": "Cordless drill with two lithium batteries and a fast charger",
    "i2": "Cordless drill with two lithium batteries and a fast charger",  # duplicate text of i1
    "i3": "Stainless steel kitchen faucet with pull-down sprayer",
    "i4": "LED ceiling light fixture, warm white, dimmable",
    "i5": "Outdoor solar path lights, set of eight",
    "i6": "Cast iron skillet, 12 inch, pre-seasoned",
    "i7": "Memory foam bath mat, non-slip, grey",
    "i8": "Garden hose, 50 ft, kink resistant",
    "i9": "Wood screws, 200 pieces, assorted sizes",
    "i10": "Smoke detector with ten-year sealed battery",
    "i11": "Paint roller kit with tray and extension pole",
    "i12": "Ceramic floor tile, matte white, 12 x 12 inch",
}

QUERIES = [
    ("i1", "cordless drill with battery", True),
    ("i1", "power drill charger", True),
    ("i2", "drill kit with fast charger", True),
    ("i3", "kitchen faucet with sprayer", True),
    ("i3", "pull down faucet", True),
    ("i4", "dimmable ceiling light", True),
    ("i5", "solar lights for garden path", True),
    ("i6", "cast iron pan", True),
    ("i7", "non slip bath mat", True),
    ("i8", "long garden hose", True),
    ("i9", "assorted wood screws", True),
    ("i10", "smoke alarm long battery", True),
    ("i11", "paint roller with tray", True),
    ("i12", "white floor tiles", True),
    ("i12", "zzz unrelated dropped query", False),
]

LABELS = [
    ("cordless drill", "i1", "good", 0.05),
    ("cordless drill", "i9", "partial", 0.55),
    ("cordless drill", "i6", "bad", 0.95),
    ("bath mat", "i7", "good", 0.1),
    ("bath mat", "i12", "bad", 0.8),
    ("faucet", "i3", "good", None),
    ("faucet", "i8", "bad", None),
]


def make_store(path: Path) -> Path:
    """Write the fixture store and return its path."""
    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE runs (run_id VARCHAR, job_name VARCHAR, task VARCHAR,
                   prompt_name VARCHAR, prompt_version VARCHAR, model VARCHAR)""")
    con.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)", [
        ("run-sq", "demo-queries", "synthetic_queries", "synthetic_queries", "aaa111", "qwen"),
        ("run-ml", "demo-labels", "bad_match", "bad_match", "bbb222", "qwen"),
        ("run-us", "demo-users", "embsum", "embsum", "ccc333", "qwen"),
    ])
    con.execute("""CREATE TABLE synthetic_queries (run_id VARCHAR, item_id VARCHAR,
                   item_text VARCHAR, query VARCHAR, kind VARCHAR, kept BOOLEAN, reason VARCHAR,
                   rank INTEGER, model VARCHAR, prompt_version VARCHAR, created_at TIMESTAMP)""")
    con.executemany("INSERT INTO synthetic_queries VALUES (?, ?, ?, ?, 'keyword', ?, '', ?, "
                    "'qwen', 'aaa111', now())",
                    [("run-sq", i, ITEMS[i], q, kept, n) for n, (i, q, kept) in
                     enumerate(QUERIES)])
    con.execute("""CREATE TABLE match_labels (run_id VARCHAR, pair_id VARCHAR, query VARCHAR,
                   item_id VARCHAR, item_text VARCHAR, label VARCHAR, reason VARCHAR,
                   p_bad DOUBLE, p_bad_source VARCHAR, model VARCHAR, prompt_version VARCHAR,
                   created_at TIMESTAMP)""")
    con.executemany("INSERT INTO match_labels VALUES ('run-ml', ?, ?, ?, ?, ?, '', ?, "
                    "'logprobs', 'qwen', 'bbb222', now())",
                    [(f"p{n}", q, i, ITEMS[i], label, p) for n, (q, i, label, p) in
                     enumerate(LABELS)])
    con.execute("""CREATE TABLE user_summaries (run_id VARCHAR, user_id VARCHAR,
                   summary VARCHAR, liked VARCHAR[], disliked VARCHAR[], model VARCHAR,
                   prompt_version VARCHAR, created_at TIMESTAMP)""")
    con.executemany("INSERT INTO user_summaries VALUES ('run-us', ?, ?, ?, [], 'qwen', "
                    "'ccc333', now())",
                    [("u1", "Does a lot of DIY: drills, screws and paint.", ["i1", "i9", "i11"]),
                     ("u2", "Cooks at home and keeps a tidy bathroom.", ["i6", "i7", "unknown"])])
    con.close()
    return path
