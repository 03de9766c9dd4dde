"""Chinese for the study list and the mobile viewer."""

ZH_STUDIES: dict[str, str] = {
    "Studies": "影像检查",
    "Study list": "影像检查列表",
    "Patient ID": "患者编号",
    "Study date from": "检查日期自",
    "Study date to": "检查日期至",
    "Modality": "设备类型",
    "Study date": "检查日期",
    "Accession number": "检查号",
    "Study description": "检查描述",
    "Series / images": "序列 / 图像",
    "Open in viewer": "在阅片器中打开",
    "Mobile view": "移动端查看",
    "Compare selected": "对比所选检查",
    "Select to compare": "选择以对比",
    "Select up to {n} studies, then compare them side by side.": (
        "最多选择 {n} 个检查，并排对比阅片。"
    ),
    "No studies match.": "没有符合条件的检查。",
    "archived": "已归档",
    "Archived: request a retrieval first.": "已归档：请先申请调阅。",
    "Newest examination first, 50 a page": "按检查日期从新到旧，每页 50 条",
    "Images": "图像",
    "View original": "查看原图",
    "Original": "原图",
    "Thumbnail": "缩略图",
    "Thumbnails first on a mobile network; tap View original for full resolution.": (
        "移动网络下先加载缩略图；点击“查看原图”加载全分辨率图像。"
    ),
    "Swipe left or right to move through the images.": "左右滑动切换图像。",
    "Previous image": "上一张",
    "Next image": "下一张",
    "Open in the full viewer": "在完整阅片器中打开",
    "This study has no images.": "该检查没有图像。",
    "Loading…": "加载中…",
    "The image could not be loaded.": "图像加载失败。",
    "frames": "帧",
}
