from django.test import TestCase

from .models import Post


class PostTests(TestCase):
    def test_list_and_detail(self):
        Post.objects.create(title="Hello", slug="hello", body="First post.")
        self.assertContains(self.client.get("/"), "Hello")
        self.assertContains(self.client.get("/hello/"), "First post.")
