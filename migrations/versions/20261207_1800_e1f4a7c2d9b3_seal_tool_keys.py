"""seal the tool's LTI signing keys: tool_keys.private_pem (clear) becomes private_sealed

The private key is sealed like the bridge's other secrets (bridge.services.signing.seal,
purpose "tool key", the kid as associated data). Sealing needs the bridge's secret: the one
``exambridge db upgrade`` (and ``serve`` in development) passes in, otherwise the one the app
would use, read the same way (EXAMBRIDGE_SECRET_KEY, the config file, or in development the
instance folder's ``secret_key``). Without one, while keys exist, the upgrade stops before it
changes anything and says so. Downgrade unseals them back into ``private_pem``.

Revision ID: e1f4a7c2d9b3
Revises: c2d7e9a4f6b8
Create Date: 2026-12-07 18:00:00
"""
from alembic import context, op
import sqlalchemy as sa


revision = 'e1f4a7c2d9b3'
down_revision = 'c2d7e9a4f6b8'
branch_labels = None
depends_on = None

PURPOSE = "tool key"  # frozen here: lms_plugin.services.tool_keys.PURPOSE at the time of this migration


def _secret() -> str:
    given = context.config.attributes.get("secret_key")
    if given:
        return given
    from bridge import config
    from bridge.errors import ConfigError

    try:
        return config.load(overrides={"DATABASE_URL": context.config.get_main_option("sqlalchemy.url")})["SECRET_KEY"]
    except ConfigError as exc:
        raise RuntimeError("Sealing the tool's LTI signing keys needs the bridge's SECRET_KEY (run "
                           f"`exambridge db upgrade` with the bridge's configuration): {exc}") from None


def _keys(column: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in op.get_bind().execute(sa.text(f"SELECT kid, {column} FROM tool_keys")).all()]


def upgrade() -> None:
    from bridge.services.signing import seal

    rows = _keys("private_pem")
    secret = _secret() if rows else ""
    with op.batch_alter_table('tool_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('private_sealed', sa.Text(), nullable=True))
    for kid, pem in rows:
        op.get_bind().execute(sa.text("UPDATE tool_keys SET private_sealed = :sealed WHERE kid = :kid"),
                              {"sealed": seal(secret, PURPOSE, kid, pem), "kid": kid})
    with op.batch_alter_table('tool_keys', schema=None) as batch_op:
        batch_op.alter_column('private_sealed', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('private_pem')


def downgrade() -> None:
    from bridge.services.signing import unseal

    rows = _keys("private_sealed")
    secret = _secret() if rows else ""
    clear = []
    for kid, sealed in rows:
        pem = unseal(secret, PURPOSE, kid, sealed)
        if pem is None:
            raise RuntimeError(f"The tool key {kid} cannot be unsealed with this SECRET_KEY; "
                               "downgrade with the secret it was sealed with.")
        clear.append((kid, pem))
    with op.batch_alter_table('tool_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('private_pem', sa.Text(), nullable=True))
    for kid, pem in clear:
        op.get_bind().execute(sa.text("UPDATE tool_keys SET private_pem = :pem WHERE kid = :kid"),
                              {"pem": pem, "kid": kid})
    with op.batch_alter_table('tool_keys', schema=None) as batch_op:
        batch_op.alter_column('private_pem', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('private_sealed')
