"""Chinese labels for CTCAE v5.0 (issue 25 item 4): the project's WORKING translation, not an
official CTCAE or MedDRA translation (docs/ctcae-chinese-synonyms.md gives its sources and
status). The stored term stays the English CTCAE term; these only help a Chinese reader find
and read it.

- `SOC_ZH`: the 26 system organ classes of CTCAE v5.0 in Chinese.
- `chinese_name(term)`, `synonyms(term)`: from `data/ctcae_zh_synonyms.csv`, the terms most used
  after CAR-T (cytopenias, infections, CRS-adjacent and neurological terms).
- `search_chinese(query)`: English term names whose Chinese name or a synonym holds the query
  (every whitespace-separated word of it), best first: exact, then prefix, then the rest.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

DATA_FILE = "ctcae_zh_synonyms.csv"

SOC_ZH: dict[str, str] = {
    "Blood and lymphatic system disorders": "血液及淋巴系统疾病",
    "Cardiac disorders": "心脏器官疾病",
    "Congenital, familial and genetic disorders": "先天性、家族性及遗传性疾病",
    "Ear and labyrinth disorders": "耳及迷路类疾病",
    "Endocrine disorders": "内分泌系统疾病",
    "Eye disorders": "眼器官疾病",
    "Gastrointestinal disorders": "胃肠系统疾病",
    "General disorders and administration site conditions": "全身性疾病及给药部位各种反应",
    "Hepatobiliary disorders": "肝胆系统疾病",
    "Immune system disorders": "免疫系统疾病",
    "Infections and infestations": "感染及侵染类疾病",
    "Injury, poisoning and procedural complications": "各类损伤、中毒及操作并发症",
    "Investigations": "各类检查",
    "Metabolism and nutrition disorders": "代谢及营养类疾病",
    "Musculoskeletal and connective tissue disorders": "各种肌肉骨骼及结缔组织疾病",
    "Neoplasms benign, malignant and unspecified (incl cysts and polyps)": (
        "良性、恶性及性质不明的肿瘤（包括囊状和息肉状）"
    ),
    "Nervous system disorders": "各类神经系统疾病",
    "Pregnancy, puerperium and perinatal conditions": "妊娠期、产褥期及围产期状况",
    "Psychiatric disorders": "精神病类",
    "Renal and urinary disorders": "肾脏及泌尿系统疾病",
    "Reproductive system and breast disorders": "生殖系统及乳腺疾病",
    "Respiratory, thoracic and mediastinal disorders": "呼吸系统、胸及纵隔疾病",
    "Skin and subcutaneous tissue disorders": "皮肤及皮下组织类疾病",
    "Social circumstances": "社会环境",
    "Surgical and medical procedures": "各种手术及医疗操作",
    "Vascular disorders": "血管与淋巴管类疾病",
}


@cache
def _entries() -> dict[str, tuple[str, tuple[str, ...]]]:
    """{English term: (Chinese name, synonyms)} from the data file."""
    raw = (resources.files("clinical") / "data" / DATA_FILE).read_text(encoding="utf-8")
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for row in csv.DictReader(io.StringIO(raw)):
        others = tuple(s.strip() for s in row["Chinese synonyms"].split("|") if s.strip())
        found[row["CTCAE Term"].strip()] = (row["Chinese"].strip(), others)
    return found


def terms_with_chinese() -> tuple[str, ...]:
    return tuple(_entries())


def chinese_name(term: str) -> str | None:
    entry = _entries().get(term)
    return entry[0] if entry else None


def synonyms(term: str) -> tuple[str, ...]:
    entry = _entries().get(term)
    return entry[1] if entry else ()


def soc_chinese(soc: str) -> str | None:
    return SOC_ZH.get(soc)


def search_chinese(query: str) -> tuple[str, ...]:
    """English CTCAE term names matching the query in Chinese (see the module docstring)."""
    words = query.casefold().split()
    if not words:
        return ()
    key = " ".join(words)
    ranked = []
    for term, (name, others) in _entries().items():
        texts = [name.casefold(), *(s.casefold() for s in others)]
        if not any(all(w in text for w in words) for text in texts):
            continue
        rank = 0 if key in texts else 1 if any(t.startswith(key) for t in texts) else 2
        ranked.append((rank, len(name), term))
    return tuple(term for _rank, _length, term in sorted(ranked))
