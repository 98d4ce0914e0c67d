#include <gtest/gtest.h>

#include "ir/names.hpp"

namespace spicenn::ir {
namespace {

TEST(IrNames, SafeIdentifiers) {
  for (const char* ok : {"stage0.g_ground", "x", "Z15", "basis0", "shift_tanh2", "a.b.c_d"})
    EXPECT_TRUE(is_safe_identifier(ok)) << ok;
  for (const char* bad : {"", "0abc", "_x", ".x", "a b", "a-b", "a\nb", "a;b", "a*b", "a\"b", "a$b", "a/b", "é"})
    EXPECT_FALSE(is_safe_identifier(bad)) << bad;
  EXPECT_TRUE(is_safe_identifier(std::string(max_identifier_length, 'a')));
  EXPECT_FALSE(is_safe_identifier(std::string(max_identifier_length + 1, 'a')));
}

TEST(IrNames, IdentifierProblemExplainsAndNeverContainsANewline) {
  std::string why = identifier_problem("x\n.control shell rm -rf /");
  EXPECT_NE(why.find("'\\n'"), std::string::npos) << why;
  EXPECT_NE(why.find("position 1"), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos);
  EXPECT_NE(identifier_problem("9lives").find("start with a letter"), std::string::npos);
  EXPECT_NE(identifier_problem(std::string(100, 'a')).find("100 characters"), std::string::npos);
  EXPECT_EQ(identifier_problem("ok_name"), "");
}

TEST(IrNames, LibraryPaths) {
  for (const char* ok : {"d.lib", "../fits/my-diode+v2.lib", "/abs/path/x.lib"}) EXPECT_TRUE(is_safe_library_path(ok)) << ok;
  for (const char* bad : {"", "a b.lib", "x.lib\n.control", "\"x.lib\"", "x;rm.lib", "$HOME/x.lib", "a'b"})
    EXPECT_FALSE(is_safe_library_path(bad)) << bad;
}

TEST(IrNames, SpiceCommentSafeStripsLineBreaksAndControlCharacters) {
  std::string evil = "trained on mnist\n.control\nshell rm -rf /\r\n.endc\x1b[2J\x7f\\";
  std::string safe = spice_comment_safe(evil);
  EXPECT_EQ(safe, "trained on mnist .control shell rm -rf /  .endc [2J");
  for (char c : safe) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20);
    EXPECT_LT(static_cast<unsigned char>(c), 0x7f);
  }
  EXPECT_EQ(spice_comment_safe("caf\xc3\xa9"), "caf");  // non-ASCII bytes become blanks, trailing blanks go
  EXPECT_EQ(spice_comment_safe(std::string(500, 'x')).size(), 200u);
  EXPECT_EQ(spice_comment_safe("abc", 2), "ab");
  EXPECT_EQ(spice_comment_safe("ends with \\"), "ends with");
}

TEST(IrNames, DisplayQuotedEscapes) {
  EXPECT_EQ(display_quoted("a\nb\t'c'\x01"), "'a\\nb\\t\\'c\\'\\x01'");
  EXPECT_EQ(display_quoted("abcdef", 3), "'abc...'");
}

}  // namespace
}  // namespace spicenn::ir
