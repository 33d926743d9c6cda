"""Static file URLs that follow the request's mount."""
from django.contrib.staticfiles.storage import StaticFilesStorage
from django.urls import get_script_prefix

from blogsite import settings as site_settings


class MountedStaticFilesStorage(StaticFilesStorage):
    # The gateway reaches one worker both at its mount (/blog) and at its host (blog.localhost,
    # SCRIPT_NAME empty). Django puts the script prefix of the first request a worker serves in
    # front of a relative STATIC_URL and keeps it (django.conf.settings caches it, the storage
    # too), so the other way in got links to 404s. The prefix is this request's here.
    @property
    def base_url(self):
        return get_script_prefix() + site_settings.STATIC_URL
