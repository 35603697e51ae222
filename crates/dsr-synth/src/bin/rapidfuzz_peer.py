# The RapidFuzz peer of the accuracy report: a brute-force ranking of every stored value
# by fuzz.WRatio (RapidFuzz's recommended general scorer), as a user without an index
# would search. Run by accuracy-report; not a dsr component.
#
#   python rapidfuzz_peer.py CHOICES QUERIES OUT LIMIT CUTOFF
#
# CHOICES: one stored value per line (line number = person index).
# QUERIES: "qid<TAB>query" per line. OUT: "qid<TAB>idx:score idx:score ..." per line.
import sys

from rapidfuzz import fuzz, process, utils

choices_path, queries_path, out_path, limit, cutoff = sys.argv[1:6]
limit, cutoff = int(limit), float(cutoff)
with open(choices_path, encoding="utf-8") as f:
    # Processed once (lower case, non-alphanumerics to spaces, trimmed): what
    # processor=utils.default_process does, without redoing it for every query.
    choices = [utils.default_process(line.rstrip("\n")) for line in f]
with open(queries_path, encoding="utf-8") as f, open(out_path, "w", encoding="utf-8") as out:
    for line in f:
        qid, q = line.rstrip("\n").split("\t", 1)
        res = process.extract(
            utils.default_process(q),
            choices,
            scorer=fuzz.WRatio,
            processor=None,
            limit=limit,
            score_cutoff=cutoff,
        )
        out.write(qid + "\t" + " ".join(f"{i}:{s:.1f}" for _, s, i in res) + "\n")
