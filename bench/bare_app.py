"""The baseline: a bare Flask endpoint that reads the body and answers 202, nothing else."""

from flask import Flask, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks/product")
    def accept():
        request.get_data()
        return {"results": []}, 202

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
