"""A `tokenizer.json` post-processor as bertkit's packing `Template`.

TemplateProcessing (`single: [CLS] $A [SEP]`, `pair: [CLS] $A [SEP] $B:1 [SEP]:1`), RobertaProcessing and
BertProcessing, alone or in a Sequence (ByteLevel there only trims offsets). The template must have the
shape `start A end` / `start A middle B end` with start, A and middle typed 0 and B and end typed alike.
With no post-processor, the packing is guessed from the special tokens ([CLS]/[SEP] or <s>/</s>).
"""

from __future__ import annotations

from bertkit.core.errors import BertkitError
from bertkit.tokenization.base import Template

SUPPORTED = ("TemplateProcessing", "RobertaProcessing", "BertProcessing", "Sequence")


def template_from(node: dict | None, ids: dict[str, int], pad: int, source: str) -> Template:
    """The packing of post-processor `node` (`ids`: token -> id, with the added tokens)."""
    if node and node.get("type") == "Sequence":
        found = [p for p in node.get("processors", []) if p.get("type") != "ByteLevel"]
        if len(found) > 1:
            raise BertkitError(f"{source}: a Sequence post-processor with {[p.get('type') for p in found]}; bertkit "
                               "supports one of " + ", ".join(SUPPORTED[:3]) + " (and ByteLevel).")
        node = found[0] if found else None
    if not node or node.get("type") == "ByteLevel":  # ByteLevel only trims offsets
        return _guess(ids, pad)
    kind = node.get("type")
    if kind == "RobertaProcessing":
        return Template.roberta(int(node["cls"][1]), int(node["sep"][1]), pad)
    if kind == "BertProcessing":
        return Template.bert(int(node["cls"][1]), int(node["sep"][1]), pad)
    if kind == "TemplateProcessing":
        return _from_template(node, pad, source)
    raise BertkitError(f"{source}: post-processor {kind!r} is not supported; bertkit supports {', '.join(SUPPORTED)}.")


def _guess(ids: dict[str, int], pad: int) -> Template:
    if "[CLS]" in ids and "[SEP]" in ids:
        return Template.bert(ids["[CLS]"], ids["[SEP]"], pad)
    if "<s>" in ids and "</s>" in ids:
        return Template.roberta(ids["<s>"], ids["</s>"], pad)
    return Template((), (), (), 0, pad)


def _items(node: dict, key: str, specials: dict, source: str) -> list[tuple[str, tuple[int, ...], int]]:
    """[(kind "A" / "B" / "special", ids, type id)] of one side of a TemplateProcessing."""
    out = []
    for item in node.get(key, []):
        if "Sequence" in item:
            out.append((item["Sequence"]["id"], (), int(item["Sequence"].get("type_id", 0))))
        elif "SpecialToken" in item:
            name = item["SpecialToken"]["id"]
            if name not in specials:
                raise BertkitError(f"{source}: the post-processor's template uses {name!r}, which its special_tokens "
                                   "do not define.")
            out.append(("special", tuple(int(i) for i in specials[name]["ids"]),
                        int(item["SpecialToken"].get("type_id", 0))))
    return out


def _from_template(node: dict, pad: int, source: str) -> Template:
    specials = node.get("special_tokens", {})
    single, pair = _items(node, "single", specials, source), _items(node, "pair", specials, source)

    def cut(items, names):
        """The special ids between the sequence items `names` (len(names) + 1 groups) and their type ids."""
        groups, types, at = [[]], [[]], 0
        for kind, ids, type_id in items:
            if kind == "special":
                groups[at] += ids
                types[at] += [type_id] * len(ids)
            elif at < len(names) and kind == names[at]:
                at, groups, types = at + 1, groups + [[]], types + [[]]
            else:
                raise BertkitError(f"{source}: the post-processor's template {[k for k, _, _ in items]} is not of the "
                                   "form start $A (middle $B) end that bertkit packs.")
        return groups, types

    (start, end), (start_types, end_types) = cut(single, ["A"])
    (p_start, middle, p_end), (p_start_types, middle_types, p_end_types) = cut(pair, ["A", "B"])
    seq_types = {k: t for k, _, t in pair if k in ("A", "B")}
    type_b = seq_types.get("B", 0)
    consistent = (p_start == start and p_end == end and not any(start_types + p_start_types + middle_types)
                  and seq_types.get("A", 0) == 0 and all(t == type_b for t in p_end_types))
    if not consistent:
        raise BertkitError(f"{source}: the post-processor's single template {[k for k, _, _ in single]} and pair "
                           f"template {[k for k, _, _ in pair]} are not of the form start $A end / start $A middle "
                           "$B end (start, $A and middle typed 0) that bertkit packs.")
    return Template(tuple(start), tuple(middle), tuple(end), type_b, pad)
