"""Prompt library, schema registry and JSON repair as units."""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from enrich.errors import ConfigError
from enrich.prompts import PromptFile, PromptLibrary, RenderError, template_variables
from enrich.repair import repair_json_text
from enrich.schema_registry import OutputInvalid, SchemaRegistry


def _prompt(**changes: object) -> PromptFile:
    data = {"name": "p", "schema": "ItemMetadata", "user": "Title: {{ title }}"}
    data.update(changes)
    return PromptFile.model_validate(data)


def test_version_is_a_content_hash_of_what_is_sent() -> None:
    base = _prompt()
    assert base.version == _prompt().version and len(base.version) == 12
    assert _prompt(description="docs only").version == base.version
    assert _prompt(user="Name: {{ title }}").version != base.version
    assert _prompt(params={"temperature": 0.5}).version != base.version
    assert _prompt(schema="Other").version != base.version


def test_render_uses_columns_row_and_options() -> None:
    prompt = _prompt(system="You label {{ options.kind }}.",
                     user="{{ title }} / {{ row['title'] | upper }}")
    messages = prompt.render(template_variables({"title": "Heat"}, {"kind": "films"}))
    assert messages == [{"role": "system", "content": "You label films."},
                        {"role": "user", "content": "Heat / HEAT"}]


@pytest.mark.parametrize("template", [
    "{{ title.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
])
def test_sandbox_blocks_python_internals(template: str) -> None:
    with pytest.raises(RenderError):
        _prompt(user=template).render({"title": "x"})


def test_library_errors_name_file_and_fix(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nschema: S\nuser: '{{ title '\n")
    (tmp_path / "extra.yaml").write_text("name: extra\nschema: S\nuser: x\ncolour: red\n")
    library = PromptLibrary(tmp_path)
    with pytest.raises(ConfigError, match=r"broken.yaml: template syntax error at line 1"):
        library.get("broken")
    with pytest.raises(ConfigError, match=r"extra.yaml: `colour`: unknown key"):
        library.get("extra")
    with pytest.raises(ConfigError, match=r"unknown prompt `nope`.*available prompts: broken"):
        library.get("nope")


def test_schema_registry_models_and_json_schema_files(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(orjson.dumps({
        "type": "object", "properties": {"label": {"enum": ["good", "bad"]}},
        "required": ["label"]}).decode())
    (tmp_path / "broken.json").write_text('{"type": "nonsense"}')
    registry = SchemaRegistry(tmp_path)
    with pytest.raises(ConfigError, match="broken.json: not a valid JSON Schema"):
        registry.get("labels")
    (tmp_path / "broken.json").unlink()
    labels = SchemaRegistry(tmp_path).get("labels")
    assert labels.validate_json('{"label": "good"}') == {"label": "good"}
    with pytest.raises(OutputInvalid) as wrong:
        labels.validate_json('{"label": "meh"}')
    assert wrong.value.kind == "schema_violation"
    with pytest.raises(OutputInvalid) as garbled:
        labels.validate_json('{"label": ')
    assert garbled.value.kind == "invalid_json"


def test_repo_schemas_are_bounded() -> None:
    registry = SchemaRegistry(Path(__file__).resolve().parent.parent / "schemas")

    def unbounded(node: object, path: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            if node.get("type") == "string" and "maxLength" not in node and "enum" not in node:
                found.append(path)
            if node.get("type") == "array" and "maxItems" not in node:
                found.append(path)
            for key, value in node.items():
                found += unbounded(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += unbounded(value, f"{path}[{i}]")
        return found

    for name in registry.names():
        assert unbounded(registry.get(name).json_schema, name) == []


@pytest.mark.parametrize(("text", "expected"), [
    ('```json\n{"a": 1}\n```', {"a": 1}),
    ('Sure! Here it is: {"a": [1, 2]} Hope it helps.', {"a": [1, 2]}),
    ('{"a": [1, 2', {"a": [1, 2]}),
    ('{"a": "cut in the mid', {"a": "cut in the mid"}),
    ('{"a": 1, "b":', {"a": 1}),
])
def test_repair_json_text(text: str, expected: object) -> None:
    repaired = repair_json_text(text)
    assert repaired is not None and orjson.loads(repaired) == expected


def test_schemas_export_writes_json_schema(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "enrich.cli", "schemas", "export", "--out",
                             str(tmp_path)], cwd=repo, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    exported = orjson.loads((tmp_path / "ItemMetadata.schema.json").read_bytes())
    assert exported["properties"]["clean_title"]["maxLength"] == 120
