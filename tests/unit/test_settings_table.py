"""docs/operations.md's configuration table is the one cadenza.settings generates from its fields."""

from cadenza.settings import DOCS_FILE, TABLE_BEGIN, TABLE_END, with_table


def test_the_configuration_table_is_generated_from_settings():
    document = DOCS_FILE.read_text()
    assert TABLE_BEGIN in document and TABLE_END in document, f"{DOCS_FILE.name} lost its settings-table markers"
    assert document == with_table(document), (
        f"the configuration table in docs/{DOCS_FILE.name} differs from cadenza/settings.py: run `make docs` "
        "(python -m cadenza.settings --write) and commit the result"
    )
