"""The literal demo records (zh-CN and English), apart from the code that loads them."""
