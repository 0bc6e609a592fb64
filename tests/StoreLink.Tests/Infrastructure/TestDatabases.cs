using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

[assembly: AssemblyFixture(typeof(StoreLink.Tests.Infrastructure.TestDatabases))]

namespace StoreLink.Tests.Infrastructure;

/// <summary>
/// The two databases every persistence-sensitive test runs on. Each test gets a fresh database cloned from a
/// template that was migrated and seeded with the demo once per run: a file copy for SQLite,
/// <c>CREATE DATABASE … TEMPLATE</c> for PostgreSQL (set <c>STORELINK_TEST_POSTGRES</c>; default: local server,
/// user and password <c>postgres</c>). Outside CI a missing PostgreSQL skips its half; in CI it fails.
/// </summary>
public sealed class TestDatabases : IAsyncLifetime
{
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary>For <c>[MemberData]</c>: one row per database.</summary>
    public static TheoryData<string> Both => new(Sqlite, Postgres);

    public static readonly string Root = Path.Combine(Path.GetTempPath(), "storelink-tests", Guid.NewGuid().ToString("N")[..12]);
    private static readonly SemaphoreSlim TemplateLock = new(1, 1);
    private static readonly SemaphoreSlim ProbeLock = new(1, 1);
    private static string? _sqliteTemplate;
    private static string? _postgresTemplate;
    private static bool? _postgresAvailable;

    public static string PostgresServer =>
        Environment.GetEnvironmentVariable("STORELINK_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres";

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder(PostgresServer) { Database = database, Pooling = true, MaxPoolSize = 20 }.ConnectionString;

    /// <summary>A fresh, migrated, demo-seeded database: the connection string (postgres) or data directory (sqlite).</summary>
    public static async Task<FreshDatabase> CreateAsync(string provider)
    {
        if (provider == Postgres)
        {
            await RequirePostgresAsync();
            var template = await TemplateAsync(provider);
            var name = $"storelink_t_{Guid.NewGuid():N}";
            await AdminExecuteAsync($"CREATE DATABASE {name} TEMPLATE {template}");
            return new FreshDatabase(provider, ConnectionStringFor(name), Path.Combine(Root, name), name);
        }
        var directory = Path.Combine(Root, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        File.Copy(await TemplateAsync(provider), Path.Combine(directory, "storelink.db"));
        return new FreshDatabase(provider, null, directory, null);
    }

    /// <summary>An empty database with no tables at all (for migration tests).</summary>
    public static async Task<FreshDatabase> CreateEmptyAsync(string provider)
    {
        var directory = Path.Combine(Root, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        if (provider == Sqlite)
            return new FreshDatabase(provider, null, directory, null);
        await RequirePostgresAsync();
        var name = $"storelink_t_{Guid.NewGuid():N}";
        await AdminExecuteAsync($"CREATE DATABASE {name}");
        return new FreshDatabase(provider, ConnectionStringFor(name), directory, name);
    }

    public static async Task DropAsync(string database)
    {
        NpgsqlConnection.ClearAllPools();
        await AdminExecuteAsync($"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
    }

    private static async Task<string> TemplateAsync(string provider)
    {
        await TemplateLock.WaitAsync();
        try
        {
            if (provider == Sqlite && _sqliteTemplate is null)
            {
                var seeded = await CreateEmptyAsync(Sqlite);
                await using (var app = new StoreLinkApp(seeded, seedDemo: true, keepDatabase: true))
                    app.Start();
                SqliteConnection.ClearAllPools();
                var template = Path.Combine(Root, "template.db");
                await using var connection = new SqliteConnection($"Data Source={Path.Combine(seeded.DataDirectory, "storelink.db")}");
                await connection.OpenAsync();
                await connection.ExecuteAsync("VACUUM INTO @template", new { template });
                _sqliteTemplate = template;
            }
            if (provider == Postgres && _postgresTemplate is null)
            {
                var seeded = await CreateEmptyAsync(Postgres);
                await using (var app = new StoreLinkApp(seeded, seedDemo: true, keepDatabase: true))
                    app.Start();
                NpgsqlConnection.ClearAllPools();
                _postgresTemplate = seeded.PostgresDatabase;
            }
            return provider == Sqlite ? _sqliteTemplate! : _postgresTemplate!;
        }
        finally
        {
            TemplateLock.Release();
        }
    }

    public static async Task RequirePostgresAsync()
    {
        await ProbeLock.WaitAsync(); // one probe for the whole run, not one per test that starts at once
        try
        {
            _postgresAvailable ??= await CanConnectAsync();
        }
        finally
        {
            ProbeLock.Release();
        }
        if (_postgresAvailable.Value)
            return;
        var message = $"PostgreSQL is not reachable at '{new NpgsqlConnectionStringBuilder(PostgresServer) { Password = null }}'; set STORELINK_TEST_POSTGRES.";
        if (InCi)
            throw new InvalidOperationException(message + " In CI every test must run.");
        Assert.Skip(message);
    }

    private static async Task<bool> CanConnectAsync()
    {
        // A server that is there but slow to answer (a busy machine) gets a few tries before its half is given up.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(PostgresServer) { Timeout = 5, Database = "postgres", Pooling = false }.ConnectionString);
                await connection.OpenAsync();
                return true;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
            {
                if (attempt == 3)
                    return false;
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
    }

    public static async Task AdminExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(PostgresServer) { Database = "postgres", Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await connection.ExecuteAsync(sql);
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_postgresTemplate is not null)
            await DropAsync(_postgresTemplate);
        try
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A database made for one test; disposing it drops a PostgreSQL one (SQLite files go with the run's folder).</summary>
public sealed record FreshDatabase(string Provider, string? ConnectionString, string DataDirectory, string? PostgresDatabase) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        if (PostgresDatabase is not null)
            await TestDatabases.DropAsync(PostgresDatabase);
        else
            SqliteConnection.ClearAllPools();
    }
}
