from django.shortcuts import get_object_or_404, render

from .models import Post


def post_list(request):
    return render(request, "posts/list.html", {"posts": Post.objects.all()[:20]})


def post_detail(request, slug):
    return render(request, "posts/detail.html", {"post": get_object_or_404(Post, slug=slug)})
