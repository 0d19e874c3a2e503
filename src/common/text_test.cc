#include "common/text.h"

#include <gtest/gtest.h>

namespace mdb::common {
namespace {

TEST(Text, CleanUtf8ShowsMalformedBytesAndKeepsTheRest) {
  // Overlong '/', a lone lead byte, a surrogate, a byte past U+10FFFF; then valid text.
  EXPECT_EQ(CleanUtf8("x\xc0\xafy \xe0\x80\xaf z\xc2y \xed\xa0\x80 \xf5 \xc3\xa9\n\x1b", 100),
            "x\\xC0\\xAFy \\xE0\\x80\\xAF z\\xC2y \\xED\\xA0\\x80 \\xF5 \xc3\xa9\n\x1b");
}

TEST(Text, CleanUtf8CutsAtACharacter) {
  const std::string m = CleanUtf8(std::string(9, 'a') + "\xc3\xa9" + "bbbb", 10);
  EXPECT_EQ(m, std::string(9, 'a') + "\xc3\xa9... (cut)");
  EXPECT_EQ(CleanUtf8("short", 5), "short");
  EXPECT_EQ(CleanUtf8("", 5), "");
}

TEST(Text, OneLineTurnsControlsIntoSingleSpaces) {
  // A forged log line, an OSC title escape, a C1 CSI (U+009B) and DEL; tabs and CRs too.
  EXPECT_EQ(OneLine("\n boom\r\nmdb-backupd: done\x1b]0;t\x07\xc2\x9b"
                    "31m\x7f\tend \n",
                    100),
            "boom mdb-backupd: done ]0;t 31m end");
  // U+00A0 and above are text, not controls.
  EXPECT_EQ(OneLine("a\xc2\xa0"
                    "b",
                    100),
            "a\xc2\xa0"
            "b");
  EXPECT_EQ(OneLine("a\xffz", 100), "a\\xFFz");
}

}  // namespace
}  // namespace mdb::common
