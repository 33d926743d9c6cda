"""Settings read from what the gateway gives every app (README: "What an app gets")."""
import os
import secrets
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
# Private and persistent; `apppkg-gateway run DIR -- python manage.py ...` sees the same one.
DATA_DIR = Path(os.environ.get("APPPKG_DATA_DIR", BASE_DIR / "data"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    """SECRET_KEY from the environment file's settings, else one made once and kept in DATA_DIR."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("APPPKG_ENV") == "development"
# The gateway passes the client's Host on; name public hosts in the environment file's settings.
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,.localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "posts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "blogsite.urls"
WSGI_APPLICATION = "blogsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# app.yaml asks for `services: {database: sql}`: the gateway sets DATABASE_URL to the app's own
# PostgreSQL database where the host has one (environment file `services.postgresql`), else to
# SQLite in DATA_DIR. dj-database-url (Debian's python3-dj-database-url) reads either. Run
# outside the gateway (plain `python manage.py`), SQLite in DATA_DIR as before.
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
        }
    }

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Relative: Django puts SCRIPT_NAME (the gateway's mount) in front, e.g. /blog/static/.
STATIC_URL = "static/"
# Filled by collectstatic (the install and update hooks); app.yaml's `static:` serves it.
STATIC_ROOT = BASE_DIR / "static"
# The same worker answers at the mount and at the app's host: its static links must follow each
# request's SCRIPT_NAME, which Django's own storage reads only once (blogsite/storage.py).
if django.VERSION >= (4, 2):
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "blogsite.storage.MountedStaticFilesStorage"},
    }
else:
    STATICFILES_STORAGE = "blogsite.storage.MountedStaticFilesStorage"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
