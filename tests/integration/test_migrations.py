"""The Alembic migrations build exactly the schema the models declare, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from corpmail.app import create_app
from corpmail.extensions import db


def test_migrations_match_models(db_backend, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": db_backend}, instance_path=str(tmp_path / "instance"))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        db.engine.dispose()
    assert diff == [], f"models and migrations differ; run `corpmail db migrate`: {diff}"
