-- GET the URL as is (the baseline).
dofile(os.getenv("WRK_DIR") .. "/report.lua")
