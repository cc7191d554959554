// Params and results against a real PostgreSQL (DATABASE_URL), with the session settings the
// service uses: what EncodeParams sends is what the server receives, what the server prints is
// decoded by ResultToJson as API.md says, and the builtin OIDs of TypeRegistry are the server's.
// Plain blocking libpq: this is a test, not the service.
#include "coredb/adapters/postgres/params.hpp"
#include "coredb/adapters/postgres/result_json.hpp"
#include "coredb/adapters/postgres/type_registry.hpp"
#include "coredb/core/json_writer.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coredb::pg {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

constexpr const char* kSessionOptions =
    "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1 "
    "-c bytea_output=hex";
constexpr std::size_t kNoLimit = std::size_t{1} << 40;
constexpr const char* kSchema = "coredb_result_json_test";

struct ResultDeleter {
  void operator()(PGresult* res) const { PQclear(res); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;

void IgnoreNotice(void* /*arg*/, const char* /*message*/) {}

class ResultJsonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* url = std::getenv("DATABASE_URL");
    if (url == nullptr || *url == '\0') return;  // every test then fails in SetUp
    const char* keywords[] = {"dbname", "options", "client_encoding", nullptr};
    const char* values[] = {url, kSessionOptions, "UTF8", nullptr};
    conn_.reset(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
    // NOTICEs of DROP ... IF EXISTS are expected; keep the test output readable.
    PQsetNoticeProcessor(conn_.get(), IgnoreNotice, nullptr);
  }
  static void TearDownTestSuite() { conn_.reset(); }

  void SetUp() override {
    const char* url = std::getenv("DATABASE_URL");
    ASSERT_TRUE(url != nullptr && *url != '\0')
        << "DATABASE_URL must point at the test PostgreSQL; integration tests never skip";
    ASSERT_TRUE(conn_ != nullptr);
    ASSERT_EQ(PQstatus(conn_.get()), CONNECTION_OK) << PQerrorMessage(conn_.get());
  }

  // Runs `sql` with text parameters (types inferred by the server, as the service does).
  static ResultPtr Exec(const std::string& sql,
                        const std::vector<std::optional<std::string>>& params = {}) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    ResultPtr res(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, /*resultFormat=*/0));
    const ExecStatusType status = PQresultStatus(res.get());
    EXPECT_TRUE(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        << sql << ": " << PQresultErrorMessage(res.get());
    return res;
  }

  // Learns the missing types the way the service does: one LookupSql round trip.
  void LearnTypes(const PGresult* res) {
    std::vector<Oid> missing = types_.Missing(res);
    if (missing.empty()) return;
    ResultPtr lookup =
        Exec(std::string(TypeRegistry::LookupSql()), {TypeRegistry::LookupParam(missing)});
    types_.AddFromLookup(lookup.get());
  }

  json::object Query(const std::string& sql, const json::array& params = {},
                     RowMode mode = RowMode::kObject) {
    auto encoded = EncodeParams(params);
    EXPECT_TRUE(encoded) << (encoded ? "" : encoded.error().message);
    if (!encoded) return {};
    ResultPtr res = Exec(sql, *encoded);
    LearnTypes(res.get());
    auto out = ResultToJson(res.get(), mode, types_, kNoLimit);
    EXPECT_TRUE(out) << sql << ": " << (out ? "" : out.error().message);
    if (out) ExpectSameText(res.get(), *out, mode, sql);
    return out ? std::move(*out) : json::object();
  }

  // The query path answers with ResultToJsonText: it must be the object's JSON, byte for byte,
  // for every result these tests decode.
  void ExpectSameText(const PGresult* res, const json::object& object, RowMode mode, const std::string& sql) {
    std::size_t object_estimate = 0;
    std::size_t text_estimate = 0;
    ASSERT_TRUE(ResultToJson(res, mode, types_, kNoLimit, {}, &object_estimate));
    auto text = ResultToJsonText(res, RowSet{}, mode, types_, kNoLimit, &text_estimate);
    ASSERT_TRUE(text) << sql << ": " << text.error().message;
    EXPECT_EQ(*text, ToJson(object)) << sql;
    EXPECT_EQ(text_estimate, object_estimate) << sql;
  }

  // A parameter list holding one value. (`json::array{some_array}` would copy some_array instead.)
  static json::array One(json::value v) {
    json::array params;
    params.push_back(std::move(v));
    return params;
  }

  // The single value of a one-row, one-column query.
  json::value Value(const std::string& sql, const json::array& params = {}) {
    json::object out = Query(sql, params, RowMode::kArray);
    const json::array* rows = out.if_contains("rows") ? out.at("rows").if_array() : nullptr;
    if (rows == nullptr || rows->size() != 1 || rows->at(0).as_array().size() != 1) {
      ADD_FAILURE() << sql << ": expected one value, got " << json::serialize(out);
      return {};
    }
    return rows->at(0).as_array().at(0);
  }

  // The raw text the server holds for a one-value query.
  static std::string ServerText(const std::string& sql,
                                const std::vector<std::optional<std::string>>& params = {}) {
    ResultPtr res = Exec(sql, params);
    if (PQntuples(res.get()) != 1 || PQgetisnull(res.get(), 0, 0)) return "<NULL or no row>";
    return PQgetvalue(res.get(), 0, 0);
  }

  static ConnPtr conn_;
  TypeRegistry types_;
};

ConnPtr ResultJsonTest::conn_;

// --- the registry is the server's catalog ----------------------------------------------------

TEST_F(ResultJsonTest, BuiltinTypeOidsMatchTheServersPgType) {
  ResultPtr res = Exec(
      "WITH base AS (SELECT oid FROM pg_catalog.pg_type WHERE oid < 10000 AND typtype <> 'c') "
      "SELECT t.oid, t.typname, t.typelem, t.typcategory, t.typdelim FROM pg_catalog.pg_type t "
      "WHERE t.oid IN (SELECT oid FROM base) "
      "AND (t.typcategory <> 'A' OR t.typelem IN (SELECT oid FROM base)) ORDER BY t.oid");
  const int rows = PQntuples(res.get());
  ASSERT_GT(rows, 150);
  for (int r = 0; r < rows; ++r) {
    const Oid type = static_cast<Oid>(std::strtoul(PQgetvalue(res.get(), r, 0), nullptr, 10));
    const std::string name = PQgetvalue(res.get(), r, 1);
    SCOPED_TRACE(name);
    const TypeInfo* info = types_.Find(type);
    ASSERT_NE(info, nullptr) << "OID " << type << " (" << name << ") unknown";
    EXPECT_EQ(info->name, name);
    EXPECT_EQ(info->element,
              static_cast<Oid>(std::strtoul(PQgetvalue(res.get(), r, 2), nullptr, 10)));
    EXPECT_EQ(info->category, PQgetvalue(res.get(), r, 3)[0]);
    EXPECT_EQ(info->delimiter, PQgetvalue(res.get(), r, 4)[0]);
  }
  // Every builtin entry was matched above: none has an OID the server does not have.
  EXPECT_EQ(types_.Size(), static_cast<std::size_t>(rows));
  for (const char* name :
       {"bool",    "int8",    "text",     "json",    "jsonb",        "timestamptz", "uuid",
        "numeric", "_int4",   "_text",    "_jsonb",  "_timestamptz", "int4range",   "record",
        "void",    "unknown", "regclass", "regtype", "pg_lsn",       "jsonpath"}) {
    EXPECT_EQ(ServerText("SELECT $1::regtype::oid", {std::string(name)}),
              ServerText("SELECT oid FROM pg_catalog.pg_type WHERE typname = $1 AND oid < 10000",
                         {std::string(name)}))
        << name;
  }
}

// --- values out ------------------------------------------------------------------------------

struct ValueCase {
  const char* expr;
  const char* expected_json;
};

TEST_F(ResultJsonTest, EveryMappedTypeDecodesAsTheApiSays) {
  const ValueCase cases[] = {
      {"true", "true"},
      {"false", "false"},
      {"32767::int2", "32767"},
      {"(-2147483648)::int4", "-2147483648"},
      {"'4294967295'::oid", "4294967295"},
      {"1.5::float4", "1.5"},
      {"0.1::float8", "0.1"},
      {"3::float8", "3"},
      {"'NaN'::float8", R"("NaN")"},
      {"'Infinity'::float8", R"("Infinity")"},
      {"'-Infinity'::float4", R"("-Infinity")"},
      {"9007199254740993::int8", R"("9007199254740993")"},
      {"(-9223372036854775808)::int8", R"("-9223372036854775808")"},
      {"123.4500::numeric", R"("123.4500")"},
      {"'NaN'::numeric", R"("NaN")"},
      {"'Infinity'::numeric", R"("Infinity")"},
      {"12345678901234567890123456789.123456789::numeric",
       R"("12345678901234567890123456789.123456789")"},
      {R"('{"a": [1, 2.5, {"b": null}], "c": "x"}'::jsonb)", R"({"a":[1,2.5,{"b":null}],"c":"x"})"},
      {R"('[1, "two", true]'::json)", R"([1,"two",true])"},
      {R"('"just text"'::jsonb)", R"("just text")"},
      {"'null'::jsonb", "null"},
      {"'2024-01-02 03:04:05.123456+00'::timestamptz", R"("2024-01-02T03:04:05.123456Z")"},
      {"'2024-01-02 03:04:05.5+02'::timestamptz", R"("2024-01-02T01:04:05.5Z")"},
      {"'2024-01-02 03:04:05.010+00'::timestamptz", R"("2024-01-02T03:04:05.01Z")"},
      {"'2024-01-02 03:04:05'::timestamptz", R"("2024-01-02T03:04:05Z")"},
      {"'infinity'::timestamptz", R"("infinity")"},
      {"'-infinity'::timestamptz", R"("-infinity")"},
      {"'0044-03-15 12:00:00+00 BC'::timestamptz", R"("0044-03-15 12:00:00+00 BC")"},
      {"'2024-01-02 03:04:05.123'::timestamp", R"("2024-01-02T03:04:05.123")"},
      {"'2024-01-02'::timestamp", R"("2024-01-02T00:00:00")"},
      {"'2024-01-02'::date", R"("2024-01-02")"},
      {"'infinity'::date", R"("infinity")"},
      {"'03:04:05.5'::time", R"("03:04:05.5")"},
      {"'03:04:05+02'::timetz", R"("03:04:05+02")"},
      {"'1 year 2 mons 3 days 04:05:06.5'::interval", R"("1 year 2 mons 3 days 04:05:06.5")"},
      {"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", R"("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")"},
      {"'\\x00ff10'::bytea", R"("\\x00ff10")"},
      {"'192.168.0.1/24'::inet", R"("192.168.0.1/24")"},
      {"'10.0.0.0/8'::cidr", R"("10.0.0.0/8")"},
      {"'08:00:2b:01:02:03'::macaddr", R"("08:00:2b:01:02:03")"},
      {"'ab'::char(4)", R"("ab  ")"},
      {"'x'::varchar(3)", R"("x")"},
      {"'x'::\"char\"", R"("x")"},
      {"'abc'::name", R"("abc")"},
      {"B'101'", R"("101")"},
      {"'[1,5)'::int4range", R"j("[1,5)")j"},
      {"'{[1,3),[5,7)}'::int4multirange", R"("{[1,3),[5,7)}")"},
      {"'(1,2)'::point", R"j("(1,2)")j"},
      {"'1 2'::int2vector", R"("1 2")"},
      {"'<a>1</a>'::xml", R"("<a>1</a>")"},
      {"'16/B374D848'::pg_lsn", R"("16/B374D848")"},
      {"'pg_class'::regclass", R"("pg_class")"},
      {"'$.a'::jsonpath", R"("$.\"a\"")"},
      {"'fat & rat'::tsquery", R"("'fat' & 'rat'")"},
      // arrays: each element by its own type's rule
      {"ARRAY[1,2,NULL]::int4[]", "[1,2,null]"},
      {"ARRAY[[1,2],[3,4]]", "[[1,2],[3,4]]"},
      {"'[0:1]={5,6}'::int4[]", "[5,6]"},
      {"'{}'::int4[]", "[]"},
      {"ARRAY[1,9007199254740993]::int8[]", R"(["1","9007199254740993"])"},
      {"ARRAY[1.50,NULL]::numeric[]", R"(["1.50",null])"},
      {"ARRAY['NaN'::float8,1.5,'-Infinity']", R"(["NaN",1.5,"-Infinity"])"},
      {"ARRAY[true,false,NULL]", "[true,false,null]"},
      {R"(ARRAY['a b','NULL',NULL,'"q"','\','',',','{}','é'])",
       R"(["a b","NULL",null,"\"q\"","\\","",",","{}","é"])"},
      {R"(ARRAY['{"a": 1}'::jsonb,'[2, "x\\y"]'])", R"([{"a":1},[2,"x\\y"]])"},
      {"ARRAY['2024-01-02 03:04:05.5+00'::timestamptz,NULL]", R"(["2024-01-02T03:04:05.5Z",null])"},
      {"ARRAY['2024-01-02 03:04:05'::timestamp]", R"(["2024-01-02T03:04:05"])"},
      {"ARRAY['2024-01-02'::date]", R"(["2024-01-02"])"},
      {"ARRAY['(1,1),(0,0)'::box,'(2,2),(1,1)']", R"j(["(1,1),(0,0)","(2,2),(1,1)"])j"},
      {"ARRAY['\\x01'::bytea]", R"(["\\x01"])"},
      {"ARRAY[int4range(1,3)]", R"j(["[1,3)"])j"},
      {"ARRAY[ROW(1,'a b')]",
       R"j("{\"(1,\\\"a b\\\")\"}")j"},  // record[]: no array type of its own
  };
  for (const ValueCase& c : cases) {
    SCOPED_TRACE(c.expr);
    const json::value actual = Value(std::string("SELECT ") + c.expr);
    EXPECT_EQ(actual, json::parse(c.expected_json)) << json::serialize(actual);
  }
}

TEST_F(ResultJsonTest, TimestamptzIsUtcEvenWhenASessionChangesTimeZone) {
  // A client may SET TimeZone on a leased connection; the API still promises UTC with `Z`.
  Exec("BEGIN");
  Exec("SET LOCAL TimeZone = 'Asia/Kathmandu'");
  EXPECT_EQ(ServerText("SELECT '2024-01-01 00:00:00.25+00'::timestamptz"),
            "2024-01-01 05:45:00.25+05:45");
  EXPECT_EQ(Value("SELECT '2024-01-01 00:00:00.25+00'::timestamptz"),
            json::value("2024-01-01T00:00:00.25Z"));
  Exec("SET LOCAL TimeZone = 'America/New_York'");
  EXPECT_EQ(Value("SELECT ARRAY['2024-03-01 02:30:00+00'::timestamptz]"),
            json::parse(R"(["2024-03-01T02:30:00Z"])"));
  Exec("SET LOCAL TimeZone = 'Europe/Amsterdam'");  // local mean time before 1937: +00:19:32
  EXPECT_EQ(ServerText("SELECT '1850-01-01 00:00:00+00'::timestamptz"),
            "1850-01-01 00:19:32+00:19:32");
  EXPECT_EQ(Value("SELECT '1850-01-01 00:00:00+00'::timestamptz"),
            json::value("1850-01-01T00:00:00Z"));
  Exec("COMMIT");
}

TEST_F(ResultJsonTest, FloatsKeepEveryBitThroughText) {
  json::value v = Value("SELECT 1e300::float8");
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 1e300);
  v = Value("SELECT 0.1::float8 + 0.2::float8");
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 0.1 + 0.2);
  v = Value("SELECT '-0'::float8");
  ASSERT_TRUE(v.is_double());
  EXPECT_TRUE(std::signbit(v.get_double()));
  v = Value("SELECT 5e-324::float8");
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 5e-324);
}

TEST_F(ResultJsonTest, TextTypesComeOutExactlyAsPostgresPrintsThem) {
  for (const char* expr :
       {"12.34::money", "'1 day -01:00:00'::interval", "'a fat cat'::tsvector",
        "'<(1,2),3>'::circle", "'((0,0),(1,1))'::lseg", "'{1,2,3}'::line",
        "'08:00:2b:01:02:03:04:05'::macaddr8", "'(0,1)'::tid", "'123'::xid", "'int4'::regtype",
        "'[2024-01-01,2024-02-01)'::daterange", "txid_current_snapshot()", "'1 2'::oidvector"}) {
    SCOPED_TRACE(expr);
    EXPECT_EQ(Value(std::string("SELECT ") + expr),
              json::value(ServerText(std::string("SELECT (") + expr + ")::text")));
  }
}

TEST_F(ResultJsonTest, FieldsNameTheTypesAsPgTypeDoes) {
  json::object out =
      Query("SELECT 1::int4 AS a, ARRAY[1]::int4[] AS b, 'x'::text AS c, now() AS d");
  EXPECT_EQ(out.at("fields"), json::parse(R"([
      {"name":"a","dataType":"int4","dataTypeID":23},
      {"name":"b","dataType":"_int4","dataTypeID":1007},
      {"name":"c","dataType":"text","dataTypeID":25},
      {"name":"d","dataType":"timestamptz","dataTypeID":1184}])"));
}

// --- params in -------------------------------------------------------------------------------

TEST_F(ResultJsonTest, IntArrayParamsRoundTrip) {
  EXPECT_EQ(Value("SELECT $1::int[]", {json::parse("[1,null,3]")}), json::parse("[1,null,3]"));
  EXPECT_EQ(Value("SELECT $1::int[]", {json::parse("[[1,2],[3,4]]")}),
            json::parse("[[1,2],[3,4]]"));
  EXPECT_EQ(Value("SELECT $1::int[]", {json::parse("[[[[[[7]]]]]]")}),
            json::parse("[[[[[[7]]]]]]"));
  EXPECT_EQ(Value("SELECT $1::int[]", One(json::array())), json::parse("[]"));
  EXPECT_EQ(Value("SELECT array_dims($1::int[])", {json::parse("[[1,2,3],[4,5,6]]")}),
            json::value("[1:2][1:3]"));
}

TEST_F(ResultJsonTest, JsonbParamsRoundTrip) {
  const json::value doc = json::parse(
      R"({"a":[1,"x",null,true],"b":{"c":"q\"uote","d":"back\\slash"},"e":"é漢字","f":-1.5})");
  EXPECT_EQ(Value("SELECT $1::jsonb", {doc}), doc);
  EXPECT_EQ(Value("SELECT $1::json", {doc}), doc);
  EXPECT_EQ(Value("SELECT $1::jsonb -> 'b' ->> 'c'", {doc}), json::value("q\"uote"));
  EXPECT_EQ(Value("SELECT $1::jsonb[]", {json::parse(R"([{"a":1},{"b":"x\"y"},null])")}),
            json::parse(R"([{"a":1},{"b":"x\"y"},null])"));
}

TEST_F(ResultJsonTest, TextArrayParamsWithNastyStringsReachTheServerIntact) {
  const std::vector<std::optional<std::string>> strings = {
      "plain",     "a b",          "NULL", std::nullopt, "null",   "\"quoted\"", "back\\slash",
      "",          "{braces}",     "a,b",  "semi;colon", "  lead", "trail  ",    "tab\there",
      "new\nline", "é漢字🙂", "\\\"", "NULL ",      "}",      "{"};
  json::array param;
  for (const auto& s : strings) {
    if (s) {
      param.emplace_back(json::string(*s));
    } else {
      param.emplace_back(nullptr);
    }
  }
  auto encoded = EncodeParams(One(param));
  ASSERT_TRUE(encoded);
  // What the server received, element by element.
  ResultPtr res =
      Exec("SELECT x, x IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
           *encoded);
  ASSERT_EQ(PQntuples(res.get()), static_cast<int>(strings.size()));
  for (std::size_t i = 0; i < strings.size(); ++i) {
    const int r = static_cast<int>(i);
    SCOPED_TRACE(i);
    if (strings[i]) {
      EXPECT_EQ(std::string(PQgetvalue(res.get(), r, 1)), "f");
      EXPECT_EQ(std::string(PQgetvalue(res.get(), r, 0)), *strings[i]);
    } else {
      EXPECT_EQ(std::string(PQgetvalue(res.get(), r, 1)), "t");
    }
  }
  // And back out through the decoder.
  EXPECT_EQ(Value("SELECT $1::text[]", One(param)), json::value(param));
  EXPECT_EQ(Value("SELECT $1::text[]", One(json::array{param, param})),
            json::value(json::array{param, param}));
}

TEST_F(ResultJsonTest, NumericParamsKeepTheirValue) {
  json::value v = Value("SELECT $1::float8", {1e300});
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 1e300);
  EXPECT_EQ(Value("SELECT $1::float8 = 1e300", {1e300}), json::value(true));
  EXPECT_EQ(Value("SELECT $1::float8 = 0.1", {0.1}), json::value(true));
  EXPECT_EQ(ServerText("SELECT $1::float8", {*EncodeParams(json::array{-0.0})->at(0)}), "-0");
  EXPECT_EQ(Value("SELECT $1::int8", {json::parse("9007199254740993")}),
            json::value("9007199254740993"));
  EXPECT_EQ(Value("SELECT $1::int8 = 9007199254740993", {json::parse("9007199254740993")}),
            json::value(true));
  EXPECT_EQ(Value("SELECT $1::int8", {json::parse("1e15")}), json::value("1000000000000000"));
  EXPECT_EQ(Value("SELECT $1::int4", {json::parse("3.0")}), json::value(3));
  EXPECT_EQ(Value("SELECT $1::numeric", {json::parse("18446744073709551615")}),
            json::value("18446744073709551615"));
  const std::string huge = "123456789012345678901234567890123456789.000000000000000000000000000001";
  EXPECT_EQ(Value("SELECT $1::numeric", {json::value(huge)}), json::value(huge));
  EXPECT_EQ(Value("SELECT $1::numeric * 2", {json::value(huge)}),
            json::value("246913578024691357802469135780246913578.000000000000000000000000000002"));
  EXPECT_EQ(Value("SELECT $1::float8[]", One(json::array{1.5, 1e300, 2})),
            json::value(json::array{1.5, 1e300, 2}));
}

TEST_F(ResultJsonTest, ScalarParamsOfEveryKind) {
  EXPECT_EQ(Value("SELECT $1::bool", {true}), json::value(true));
  EXPECT_EQ(Value("SELECT $1::bool[]", One(json::array{true, false, nullptr})),
            json::parse("[true,false,null]"));
  EXPECT_EQ(Value("SELECT $1::text IS NULL", {nullptr}), json::value(true));
  EXPECT_EQ(Value("SELECT $1::text", {"NULL"}), json::value("NULL"));
  EXPECT_EQ(Value("SELECT $1::text", {""}), json::value(""));
  EXPECT_EQ(Value("SELECT $1::timestamptz", {"2024-01-02T03:04:05.5+02:00"}),
            json::value("2024-01-02T01:04:05.5Z"));
  EXPECT_EQ(Value("SELECT $1::uuid", {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}),
            json::value("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
  // Untyped: the server infers text.
  EXPECT_EQ(Value("SELECT $1", {json::parse(R"({"k":[1]})")}), json::value(R"({"k":[1]})"));
}

// --- rowCount and command --------------------------------------------------------------------

TEST_F(ResultJsonTest, RowCountAndCommandFollowTheCommandTag) {
  auto expect = [this](const std::string& sql, const char* command, const char* row_count) {
    SCOPED_TRACE(sql);
    json::object out = Query(sql);
    EXPECT_EQ(out.at("command"), json::value(command));
    EXPECT_EQ(out.at("rowCount"), json::parse(row_count));
  };
  expect("CREATE TEMP TABLE rj_items (id int PRIMARY KEY, name text)", "CREATE", "null");
  expect("INSERT INTO rj_items VALUES (1, 'a'), (2, 'b'), (3, 'c')", "INSERT", "3");
  expect("INSERT INTO rj_items VALUES (4, 'd') RETURNING id", "INSERT", "1");
  expect("UPDATE rj_items SET name = name || '!' WHERE id <= 2", "UPDATE", "2");
  expect("UPDATE rj_items SET name = 'none' WHERE id > 100", "UPDATE", "0");
  expect("DELETE FROM rj_items WHERE id = 4", "DELETE", "1");
  expect("SELECT * FROM rj_items", "SELECT", "3");
  expect("SELECT * FROM rj_items WHERE false", "SELECT", "0");
  expect(
      "MERGE INTO rj_items t USING (VALUES (1), (9)) s(id) ON t.id = s.id "
      "WHEN MATCHED THEN UPDATE SET name = 'm' WHEN NOT MATCHED THEN INSERT VALUES (s.id, 'n')",
      "MERGE", "2");
  expect("CREATE TEMP TABLE rj_copy AS SELECT * FROM rj_items", "SELECT", "4");
  expect("SET application_name = 'result_json_test'", "SET", "null");
  expect("SHOW TimeZone", "SHOW", "1");
  expect("DROP TABLE rj_items, rj_copy", "DROP", "null");
}

TEST_F(ResultJsonTest, InsertReturningGivesTheRows) {
  Query("CREATE TEMP TABLE rj_ret (id int, at timestamptz)");
  json::object out =
      Query("INSERT INTO rj_ret VALUES (1, '2024-01-02 03:04:05+00'), (2, NULL) RETURNING id, at");
  EXPECT_EQ(out.at("rows"),
            json::parse(R"([{"id":1,"at":"2024-01-02T03:04:05Z"},{"id":2,"at":null}])"));
  EXPECT_EQ(out.at("rowCount"), json::value(2));
  EXPECT_EQ(out.at("command"), json::value("INSERT"));
  out = Query("INSERT INTO rj_ret VALUES (3, NULL)");
  EXPECT_EQ(out.at("rows"), json::array());
  EXPECT_EQ(out.at("fields"), json::array());
  Query("DROP TABLE rj_ret");
}

// --- row shapes ------------------------------------------------------------------------------

TEST_F(ResultJsonTest, RowModesShapeRowsAsObjectsOrArrays) {
  const std::string sql = "SELECT n AS id, 'x' || n AS label FROM generate_series(1, 2) n";
  EXPECT_EQ(Query(sql).at("rows"), json::parse(R"([{"id":1,"label":"x1"},{"id":2,"label":"x2"}])"));
  EXPECT_EQ(Query(sql, {}, RowMode::kArray).at("rows"), json::parse(R"([[1,"x1"],[2,"x2"]])"));
}

TEST_F(ResultJsonTest, DuplicateColumnNamesLetTheLaterColumnWin) {
  json::object out = Query("SELECT 1 AS a, 2 AS b, 'x' AS a");
  EXPECT_EQ(json::serialize(out.at("rows")), R"([{"a":"x","b":2}])");
  EXPECT_EQ(out.at("fields").as_array().size(), 3u);
  EXPECT_EQ(Query("SELECT 1 AS a, 2 AS b, 'x' AS a", {}, RowMode::kArray).at("rows"),
            json::parse(R"([[1,2,"x"]])"));
}

// --- types learned at run time ---------------------------------------------------------------

TEST_F(ResultJsonTest, UnknownTypesAreLearnedThroughOneLookup) {
  Exec(std::string("DROP SCHEMA IF EXISTS ") + kSchema + " CASCADE");
  Exec(std::string("CREATE SCHEMA ") + kSchema);
  Exec(std::string("CREATE TYPE ") + kSchema + ".mood AS ENUM ('happy', 'sad')");
  Exec(std::string("CREATE TYPE ") + kSchema + ".pair AS (a int, b text)");

  ResultPtr res = Exec(std::string("SELECT ARRAY['sad','happy']::") + kSchema +
                       ".mood[] AS moods, ROW(1, 'x y')::" + kSchema + ".pair AS p");
  // Neither the enum's array nor the composite is known yet; the enum itself is found through
  // the array by the same lookup.
  std::vector<Oid> missing = types_.Missing(res.get());
  ASSERT_EQ(missing.size(), 2u);
  ResultPtr lookup =
      Exec(std::string(TypeRegistry::LookupSql()), {TypeRegistry::LookupParam(missing)});
  EXPECT_EQ(PQntuples(lookup.get()), 3);
  types_.AddFromLookup(lookup.get());
  EXPECT_TRUE(types_.Missing(res.get()).empty());

  auto out = ResultToJson(res.get(), RowMode::kObject, types_, kNoLimit);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->at("rows"), json::parse(R"j([{"moods":["sad","happy"],"p":"(1,\"x y\")"}])j"));
  const json::array& fields = out->at("fields").as_array();
  EXPECT_EQ(fields.at(0).at("dataType"), json::value("_mood"));
  EXPECT_EQ(fields.at(1).at("dataType"), json::value("pair"));

  const TypeInfo* mood_array = types_.Find(PQftype(res.get(), 0));
  ASSERT_NE(mood_array, nullptr);
  ASSERT_NE(types_.Find(mood_array->element), nullptr);
  EXPECT_EQ(types_.Find(mood_array->element)->name, "mood");
  EXPECT_EQ(types_.Find(mood_array->element)->category, 'E');
  Exec(std::string("DROP SCHEMA ") + kSchema + " CASCADE");
}

TEST_F(ResultJsonTest, ExtensionTypesAreLearnedAndDecoded) {
  Exec("CREATE EXTENSION IF NOT EXISTS hstore");
  EXPECT_EQ(Value("SELECT 'a=>1, b=>NULL'::hstore"), json::value(R"("a"=>"1", "b"=>NULL)"));
  EXPECT_EQ(Value("SELECT ARRAY['a=>1'::hstore]"), json::parse(R"(["\"a\"=>\"1\""])"));
  json::object out = Query("SELECT 'a=>1'::hstore AS h");
  EXPECT_EQ(out.at("fields").as_array().at(0).at("dataType"), json::value("hstore"));
}

TEST_F(ResultJsonTest, ATypeNamedVectorIsLearnedByNameAndDecodedAsNumbers) {
  // pgvector is not in this server; an enum whose label is vector text stands in for it, which
  // exercises the same path: an OID unknown until looked up, recognised by its name.
  Exec(std::string("DROP SCHEMA IF EXISTS ") + kSchema + "_vec CASCADE");
  Exec(std::string("CREATE SCHEMA ") + kSchema + "_vec");
  Exec(std::string("CREATE TYPE ") + kSchema + "_vec.vector AS ENUM ('[1,2.5,-3]', '[]')");
  EXPECT_EQ(Value(std::string("SELECT '[1,2.5,-3]'::") + kSchema + "_vec.vector"),
            json::parse("[1,2.5,-3]"));
  EXPECT_EQ(Value(std::string("SELECT ARRAY['[1,2.5,-3]','[]']::") + kSchema + "_vec.vector[]"),
            json::parse("[[1,2.5,-3],[]]"));
  Exec(std::string("DROP SCHEMA ") + kSchema + "_vec CASCADE");
}

// --- limits ----------------------------------------------------------------------------------

TEST_F(ResultJsonTest, ResultsBeyondMaxBytesArePayloadTooLarge) {
  ResultPtr res = Exec("SELECT repeat('x', 1000) AS t FROM generate_series(1, 1000)");
  auto too_big = ResultToJson(res.get(), RowMode::kObject, types_, 100'000);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(too_big.error().message, "result exceeds MAX_RESULT_BYTES (100000 bytes)");
  auto fits = ResultToJson(res.get(), RowMode::kObject, types_, 2'000'000);
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->at("rows").as_array().size(), 1000u);
}

TEST_F(ResultJsonTest, TextResultsRefuseExactlyWhatObjectResultsRefuse) {
  ResultPtr res = Exec("SELECT n, repeat('x', n % 50) AS t, NULL::int AS z FROM generate_series(1, 200) n");
  std::size_t whole = 0;
  ASSERT_TRUE(ResultToJson(res.get(), RowMode::kObject, types_, kNoLimit, {}, &whole));
  // Around the exact estimate, and well below it: both forms agree on every bound.
  for (std::size_t max : {whole + 1, whole, whole - 1, whole / 2, std::size_t{10}, std::size_t{0}}) {
    SCOPED_TRACE(max);
    for (RowMode mode : {RowMode::kObject, RowMode::kArray}) {
      auto object = ResultToJson(res.get(), mode, types_, max);
      auto text = ResultToJsonText(res.get(), RowSet{}, mode, types_, max);
      ASSERT_EQ(static_cast<bool>(object), static_cast<bool>(text));
      if (object) {
        EXPECT_EQ(*text, ToJson(*object));
      } else {
        EXPECT_EQ(text.error().code, ErrorCode::kPayloadTooLarge);
        EXPECT_EQ(text.error().message, object.error().message);
      }
    }
  }
}

TEST_F(ResultJsonTest, TextResultsOfRowsReadOneByOneMatchTheObject) {
  // Single-row mode, as PgBackend reads: the rows come as a RowSet, the fields and the command
  // tag from the final row-less result.
  const char* sql =
      "SELECT n, 'é\"' || n AS label, CASE WHEN n % 2 = 0 THEN NULL ELSE n::numeric / 3 END AS q, "
      "ARRAY[n, NULL] AS a, json_build_object('n', n) AS j, 1.5::float8 AS f, 'x' AS n "
      "FROM generate_series(1, 5) n";
  ASSERT_EQ(PQsendQueryParams(conn_.get(), sql, 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsetSingleRowMode(conn_.get()), 1);
  RowSet rows;
  ResultPtr last;
  while (PGresult* r = PQgetResult(conn_.get())) {
    if (PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
      rows.Append(r);
      PQclear(r);
    } else {
      last.reset(r);
    }
  }
  ASSERT_EQ(PQresultStatus(last.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(last.get());
  ASSERT_EQ(rows.size(), 5);
  for (RowMode mode : {RowMode::kObject, RowMode::kArray}) {
    auto object = ResultToJson(last.get(), rows, mode, types_, kNoLimit);
    auto text = ResultToJsonText(last.get(), rows, mode, types_, kNoLimit);
    ASSERT_TRUE(object && text);
    EXPECT_EQ(*text, ToJson(*object));
    EXPECT_EQ(object->at("rowCount"), json::value(5));
  }
}

TEST_F(ResultJsonTest, TextResultsOfCommandsAndEmptyQueries) {
  for (const char* sql : {"", "  ;", "CREATE TEMP TABLE rj_text (id int)", "INSERT INTO rj_text VALUES (1), (2)",
                          "SELECT * FROM rj_text WHERE false", "DROP TABLE rj_text"}) {
    SCOPED_TRACE(sql);
    ResultPtr res(PQexec(conn_.get(), sql));
    const ExecStatusType status = PQresultStatus(res.get());
    ASSERT_TRUE(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY);
    auto object = ResultToJson(res.get(), RowMode::kObject, types_, kNoLimit);
    auto text = ResultToJsonText(res.get(), RowSet{}, RowMode::kObject, types_, kNoLimit);
    ASSERT_TRUE(object && text);
    EXPECT_EQ(*text, ToJson(*object));
  }
  ResultPtr failed(PQexec(conn_.get(), "SELECT 1/0"));
  auto text = ResultToJsonText(failed.get(), RowSet{}, RowMode::kObject, types_, kNoLimit);
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, ErrorCode::kInternal);
}

TEST_F(ResultJsonTest, SessionSettingsAreTheServices) {
  EXPECT_EQ(Value("SHOW TimeZone"), json::value("UTC"));
  EXPECT_EQ(Value("SHOW DateStyle"), json::value("ISO, MDY"));
  EXPECT_EQ(Value("SHOW IntervalStyle"), json::value("postgres"));
  EXPECT_EQ(Value("SHOW extra_float_digits"), json::value("1"));
  EXPECT_EQ(Value("SHOW bytea_output"), json::value("hex"));
  EXPECT_EQ(Value("SHOW client_encoding"), json::value("UTF8"));
}

}  // namespace
}  // namespace coredb::pg
