import os

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from Flask!\n"


@app.route("/info")
def info():
    return jsonify(
        name=os.environ.get("APPPKG_NAME"),
        script_name=request.script_root,
        path=request.path,
        data_dir=os.environ.get("APPPKG_DATA_DIR"),
    )
