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
}
