"""YAML from files and systems, loaded within limits. PyYAML expands aliases without bound: a few lines of
nested anchors (an alias bomb) become gigabytes. The node graph keeps aliases shared, so its expanded
size is counted there first, and a document too big or too deep is refused before it is built."""

import yaml

MAX_CHARS = 2_000_000
MAX_NODES = 200_000  # nodes once every alias is expanded
MAX_DEPTH = 200


class YamlTooBig(yaml.YAMLError):
    def __init__(self, problem):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, None


def compose(text):
    """The document's root node (None when empty), its expanded size checked."""
    if len(text) > MAX_CHARS:
        raise YamlTooBig(f"{len(text):,} characters, more than the {MAX_CHARS:,} opsverify reads")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None:
        _expanded_size(node, {}, 0)
    return node


def safe_load(text):
    """yaml.safe_load within the limits."""
    return construct(compose(text))


def construct(node):
    """The data of a composed document (None when empty): for a reader that also wants the nodes' lines."""
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node, sizes, depth):
    if id(node) in sizes:  # shared by an alias: its size again, without walking it again
        return sizes[id(node)]
    if depth > MAX_DEPTH:
        raise YamlTooBig(f"nested more than {MAX_DEPTH} levels deep")
    sizes[id(node)] = 1  # a recursive alias counts once
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    total = 1 + sum(_expanded_size(child, sizes, depth + 1) for child in children)
    if total > MAX_NODES:
        raise YamlTooBig(f"its aliases expand to more than {MAX_NODES:,} values (an alias bomb?)")
    sizes[id(node)] = total
    return total
