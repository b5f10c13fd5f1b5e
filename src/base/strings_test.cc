#include "skiff/base/strings.h"

#include <gtest/gtest.h>

namespace skiff {
namespace {

TEST(Strings, TrimRemovesWhiteSpaceAtBothEnds) {
  EXPECT_EQ(Trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(Trim("\t"), "");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim("x"), "x");
}

TEST(Strings, AsciiLowerChangesLettersOnly) {
  EXPECT_EQ(AsciiLower("52:54:00:AB:cD:0f"), "52:54:00:ab:cd:0f");
  EXPECT_EQ(AsciiLower("Transfer-Encoding"), "transfer-encoding");
  EXPECT_EQ(AsciiLower(""), "");
}

TEST(Strings, XmlEscapeQuotesOnlyInAttributes) {
  EXPECT_EQ(XmlEscape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
  EXPECT_EQ(XmlEscape("a<b>&'\"", /*attribute=*/false), "a&lt;b&gt;&amp;'\"");
  EXPECT_EQ(XmlEscape("plain"), "plain");
}

TEST(Strings, ShellQuoteLeavesPlainWordsAlone) {
  EXPECT_EQ(ShellQuote("-machine"), "-machine");
  EXPECT_EQ(ShellQuote("file=/var/lib/a.qcow2,if=none"), "file=/var/lib/a.qcow2,if=none");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("$HOME"), "'$HOME'");
}

}  // namespace
}  // namespace skiff
