"""Rule files (*.rules): dated parameters, decisions with default logic, decision tables, counting
rules and in-file tests, built on the DSL's expressions. See docs/dsl.md, 「規則ファイル」."""
