"""Uploading the images a resident attaches to an issue (意见建议的附图)."""
from __future__ import annotations

from typing import Literal

from flask import current_app, request
from pydantic import Field
from werkzeug.exceptions import RequestEntityTooLarge

from backend.auth import Caller
from backend.services.content import uploads
from backend.validation import ApiModel
from backend.web.endpoint import ApiBlueprint, FilePart
from models import Role, Upload

bp = ApiBlueprint("uploads", __name__, tag="意见建议")

# Room for the multipart boundaries and part headers around a file of the largest allowed size;
# the file's own size is checked exactly by the service.
_MULTIPART_OVERHEAD = 64 * 1024


class UploadDetail(ApiModel):
    id: int = Field(description="提交意见建议时在 images 中引用")
    url: str = Field(description="带签名的限时链接，可直接用于 <image src>；过期后从接口重新获取")
    content_type: Literal["image/jpeg", "image/png", "image/webp"] = Field(description="按文件内容判定")
    size: int = Field(description="字节数")
    width: int
    height: int
    media_check: Literal["pending", "pass", "review", "risky", "error"] = Field(
        description="微信图片安全检测：pending 检测中（仅本人可见），pass 通过后他人可见")


class UploadOut(ApiModel):
    upload: UploadDetail


def upload_detail(upload: Upload, viewer_user_id: int) -> UploadDetail:
    return UploadDetail(id=upload.id, url=uploads.media_url(upload, viewer_user_id), content_type=upload.content_type,
                        size=upload.size_bytes, width=upload.width, height=upload.height,
                        media_check=upload.media_check_status.value)


@bp.post("/uploads", response=UploadOut, status=201, roles={Role.resident},
         multipart={"file": FilePart("图片文件（wx.uploadFile 的 name 填 file）", media_types=uploads.ACCEPTED_TYPES)},
         errors=["invalid_input", "payload_too_large", "unsupported_media_type", "forbidden", "rate_limited"])
def create(caller: Caller):
    """上传图片（意见建议附图）

    `multipart/form-data`，文件字段名 `file`（wx.uploadFile 的 name）。仅支持 JPG、PNG、WebP（按文件内容判定，而非文件名），每张不超过 5MB。图片通过微信内容安全检测前仅上传者本人可见。每人每小时最多上传的张数有限（默认 60 张，未成功的上传不计入），超出时返回 429 与 `Retry-After`。
    """
    # JSON routes keep the app's 1 MiB limit; only this one reads an image-sized body.
    request.max_content_length = current_app.config["UPLOAD_MAX_BYTES"] + _MULTIPART_OVERHEAD
    request.max_form_parts = 16
    try:
        file = request.files.get("file")
    except RequestEntityTooLarge:
        raise uploads.ImageTooLarge() from None
    upload = uploads.create_upload(caller.user, file)
    return UploadOut(upload=upload_detail(upload, caller.user.id))
