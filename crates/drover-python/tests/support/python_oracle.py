"""Python's own answers for drover-python's compatibility test (tests/python_compat.rs).

argv[1]: {"literals": [str], "floats": [float], "dumps": [{"value": json_text, "options": {...}}],
        "shlex": [[str, comments]]}
stdout: {"python": [...], "template": [...], "floats": [repr], "dumps": [str],
         "shlex": [[str] | null]} where a literal is encoded as a tagged JSON value
(see `enc`) or ["Error"].
"""
import ast
import json
import shlex
import sys
import warnings

from ansible.template.native_helpers import Json2Python


def enc(v):
    if v is None:
        return ["None"]
    if isinstance(v, bool):
        return ["Bool", v]
    if isinstance(v, int):
        return ["Int", str(v)]
    if isinstance(v, float):
        return ["Float", repr(v)]
    if isinstance(v, str):
        return ["Str", v]
    if isinstance(v, bytes):
        return ["Bytes", v.decode("latin-1")]
    if isinstance(v, list):
        return ["List", [enc(x) for x in v]]
    if isinstance(v, tuple):
        return ["Tuple", [enc(x) for x in v]]
    if isinstance(v, set):
        return ["Set", sorted((enc(x) for x in v), key=json.dumps)]
    if isinstance(v, dict):
        return ["Dict", [[enc(k), enc(x)] for k, x in v.items()]]
    return ["Unsupported", type(v).__name__]


def evaluate(f):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return enc(f())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ["Error"]


req = json.loads(sys.argv[1])
out = {
    "python": [evaluate(lambda: ast.literal_eval(s)) for s in req["literals"]],
    "template": [
        evaluate(lambda: ast.literal_eval(Json2Python().visit(ast.parse(s, mode="eval"))))
        for s in req["literals"]
    ],
    "floats": [repr(f) for f in req["floats"]],
    "dumps": [
        json.dumps(json.loads(d["value"]), **{k: (tuple(v) if k == "separators" and v else v)
                                              for k, v in d["options"].items()})
        for d in req["dumps"]
    ],
    "shlex": [],
}
for text, comments in req["shlex"]:
    try:
        out["shlex"].append(shlex.split(text, comments=comments))
    except ValueError:
        out["shlex"].append(None)
json.dump(out, sys.stdout)
