"""Extension objects, created here and ``init_app``'d by the factory."""
from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy

from bridge.db import Base

db = SQLAlchemy(model_class=Base)
babel = Babel()
