"""The query language: AST, parser, SQL compiler, access-path planner, Frame read model."""
