using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StoreLink.Server.Data;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Data;

public sealed class MigrationTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static Db DbFor(FreshDatabase database) => new(
        Options.Create(new StorageOptions { Provider = database.Provider, ConnectionString = database.ConnectionString }),
        Options.Create(new ServerOptions { DataDirectory = database.DataDirectory }));

    private static async Task<List<string>> TablesAsync(Db db) =>
        (await db.QueryAsync<string>(db.Dialect.IsPostgres
            ? "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
            : "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")).ToList();

    [Theory, MemberData(nameof(Databases))]
    public async Task Migrations_apply_in_order_once_and_are_recorded(string provider)
    {
        await using var database = await TestDatabases.CreateEmptyAsync(provider);
        await using var db = DbFor(database);
        var runner = new MigrationRunner(db, NullLogger<MigrationRunner>.Instance);
        var applied = await runner.ApplyAsync(ct: TestContext.Current.CancellationToken);
        var embedded = Migration.Embedded(db.Dialect);
        Assert.Equal(embedded.Select(m => $"{m.Version}_{m.Name}"), applied);
        Assert.Equal(embedded.Select(m => m.Version), await db.QueryAsync<string>("SELECT version FROM schema_migrations ORDER BY version"));
        Assert.Contains("organizations", await TablesAsync(db));
        Assert.Empty(await runner.ApplyAsync(ct: TestContext.Current.CancellationToken));
        if (!db.Dialect.IsPostgres)
            Assert.Equal("wal", await db.QuerySingleOrDefaultAsync<string>("PRAGMA journal_mode"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_failing_migration_leaves_the_database_as_it_was(string provider)
    {
        await using var database = await TestDatabases.CreateEmptyAsync(provider);
        await using var db = DbFor(database);
        var runner = new MigrationRunner(db, NullLogger<MigrationRunner>.Instance);
        var good = Migration.Embedded(db.Dialect);
        await runner.ApplyAsync(good, TestContext.Current.CancellationToken);
        var tablesBefore = await TablesAsync(db);

        var broken = new Migration("9001", "broken", """
            CREATE TABLE half_done (id TEXT PRIMARY KEY);
            INSERT INTO half_done (id) VALUES ('a');
            ALTER TABLE no_such_table ADD COLUMN x TEXT;
            """);
        var error = await Assert.ThrowsAsync<MigrationFailedException>(() => runner.ApplyAsync([.. good, broken], TestContext.Current.CancellationToken));
        Assert.Contains("9001_broken", error.Message);
        Assert.Contains("no_such_table", error.Message);

        Assert.Equal(tablesBefore, await TablesAsync(db));
        Assert.DoesNotContain("9001", await db.QueryAsync<string>("SELECT version FROM schema_migrations"));

        // Fixed, it applies on the next start.
        var fixedMigration = broken with { Sql = "CREATE TABLE half_done (id TEXT PRIMARY KEY);" };
        Assert.Equal(["9001_broken"], await runner.ApplyAsync([.. good, fixedMigration], TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Both_dialects_have_the_same_migrations()
    {
        Assert.Equal(
            Migration.Embedded(SqlDialect.Sqlite).Select(m => $"{m.Version}_{m.Name}"),
            Migration.Embedded(SqlDialect.Postgres).Select(m => $"{m.Version}_{m.Name}"));
        Assert.NotEmpty(Migration.Embedded(SqlDialect.Sqlite));
    }

    /// <summary>
    /// Both dialects end with the same schema: tables, columns with their type family, primary keys and indexes
    /// (columns and uniqueness; names may differ, an expression counts as "expr").
    /// </summary>
    [Fact]
    public async Task Both_dialects_end_with_the_same_schema()
    {
        await using var sqlite = await TestDatabases.CreateEmptyAsync(TestDatabases.Sqlite);
        await using var postgres = await TestDatabases.CreateEmptyAsync(TestDatabases.Postgres);
        var schemas = new List<List<string>>();
        foreach (var database in new[] { sqlite, postgres })
        {
            await using var db = DbFor(database);
            await new MigrationRunner(db, NullLogger<MigrationRunner>.Instance).ApplyAsync(ct: TestContext.Current.CancellationToken);
            schemas.Add(await SchemaAsync(db));
        }
        var onlySqlite = schemas[0].Except(schemas[1]).ToList();
        var onlyPostgres = schemas[1].Except(schemas[0]).ToList();
        Assert.True(onlySqlite.Count == 0 && onlyPostgres.Count == 0,
            $"only on SQLite:\n  {string.Join("\n  ", onlySqlite)}\nonly on PostgreSQL:\n  {string.Join("\n  ", onlyPostgres)}");
        Assert.Contains(schemas[0], line => line.StartsWith("column messages.seq ", StringComparison.Ordinal));
    }

    private static string Family(string type)
    {
        var t = type.ToUpperInvariant();
        if (t.Contains("INT") || t == "BIGSERIAL" || t == "SERIAL") return "integer";
        if (t.Contains("CHAR") || t.Contains("TEXT") || t == "JSON" || t == "JSONB" || t == "UUID") return "text";
        if (t.Contains("REAL") || t.Contains("DOUBLE") || t.Contains("FLOAT") || t.Contains("NUMERIC")) return "real";
        if (t.Contains("BLOB") || t == "BYTEA") return "bytes";
        if (t.Contains("BOOL")) return "boolean";
        return t;
    }

    private static async Task<List<string>> SchemaAsync(Db db)
    {
        var lines = new List<string>();
        if (db.Dialect.IsPostgres)
        {
            foreach (var c in await db.QueryAsync<(string Table, string Column, string Type, string Nullable)>("""
                SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public'
                """))
                lines.Add($"column {c.Table}.{c.Column} {Family(c.Type)}");
            foreach (var i in await db.QueryAsync<(string Table, bool Unique, bool Primary, string Columns, bool Partial)>("""
                SELECT t.relname, x.indisunique, x.indisprimary,
                       (SELECT string_agg(COALESCE(a.attname, 'expr'), ',' ORDER BY k.ord)
                          FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                          LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum),
                       x.indpred IS NOT NULL
                  FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
                 WHERE n.nspname = 'public'
                """))
                lines.Add(Index(i.Table, i.Unique, i.Primary, i.Columns, i.Partial));
        }
        else
        {
            var tables = await db.QueryAsync<string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
            foreach (var table in tables)
            {
                var primary = new List<string>();
                foreach (var c in await db.QueryAsync<(long Cid, string Name, string Type, long NotNull, string? Default, long Pk)>($"PRAGMA table_info({table})"))
                {
                    lines.Add($"column {table}.{c.Name} {Family(c.Type)}");
                    if (c.Pk > 0) primary.Add($"{c.Pk:D2}{c.Name}");
                }
                var hasPkIndex = false;
                foreach (var i in await db.QueryAsync<(long Seq, string Name, long Unique, string Origin, long Partial)>($"PRAGMA index_list({table})"))
                {
                    var columns = await db.QueryAsync<(long Seqno, long Cid, string? Name)>($"PRAGMA index_info('{i.Name}')");
                    lines.Add(Index(table, i.Unique == 1, i.Origin == "pk", string.Join(',', columns.OrderBy(c => c.Seqno).Select(c => c.Name ?? "expr")), i.Partial == 1));
                    hasPkIndex |= i.Origin == "pk";
                }
                // An INTEGER PRIMARY KEY is the rowid and has no index of its own; PostgreSQL has one.
                if (!hasPkIndex && primary.Count > 0)
                    lines.Add(Index(table, true, true, string.Join(',', primary.Order().Select(p => p[2..])), false));
            }
        }
        return lines.Order(StringComparer.Ordinal).ToList();
    }

    private static string Index(string table, bool unique, bool primary, string columns, bool partial) =>
        $"{(primary ? "primary key" : unique ? "unique index" : "index")} {table}({columns}){(partial ? " where …" : "")}";
}
