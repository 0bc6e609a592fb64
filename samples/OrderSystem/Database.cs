using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace OrderSystem;

/// <summary>The order system's own SQLite database: its orders and customers, its outbox of events for StoreLink, the commands it received.</summary>
public sealed class Database(IOptions<OrderSystemOptions> options)
{
    static Database() => DefaultTypeMap.MatchNamesWithUnderscores = true; // order_no → OrderNo

    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = Path.Combine(Path.GetFullPath(options.Value.DataDirectory), "orders.db"),
        Pooling = true,
    }.ToString();

    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS customers (
            external_id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT, vip_level INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS orders (
            order_no TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(external_id), title TEXT NOT NULL,
            amount TEXT NOT NULL, status TEXT NOT NULL, address TEXT NOT NULL, phone TEXT, tracking_no TEXT,
            store_key TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        -- The outbox: written in the transaction of the change; pushed to StoreLink (webhook mode) or served as the
        -- changes feed (polling mode, cursor = seq).
        CREATE TABLE IF NOT EXISTS events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, subject TEXT NOT NULL,
            body TEXT NOT NULL, created_at INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_result TEXT);
        -- Commands from StoreLink, one row per command id: a retry gets the stored answer.
        CREATE TABLE IF NOT EXISTS commands (
            id TEXT PRIMARY KEY, type TEXT NOT NULL, order_no TEXT, data TEXT NOT NULL, status TEXT NOT NULL, message TEXT,
            result TEXT, later INTEGER NOT NULL, received_at INTEGER NOT NULL, decided_at INTEGER, reported_at INTEGER);
        -- Webhooks StoreLink sent us, by webhook-id (de-duplicated).
        CREATE TABLE IF NOT EXISTS storelink_events (id TEXT PRIMARY KEY, type TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL);
        """;

    public async Task<SqliteConnection> OpenAsync(CancellationToken ct = default)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct);
        await connection.ExecuteAsync("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;");
        return connection;
    }

    public async Task CreateAsync()
    {
        Directory.CreateDirectory(Path.GetFullPath(options.Value.DataDirectory));
        await using var connection = await OpenAsync();
        await connection.ExecuteAsync(Schema);
    }

    /// <summary>One write transaction (SQLite's <c>BEGIN IMMEDIATE</c>: writers queue instead of failing on upgrade).</summary>
    public async Task<T> InTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct = default)
    {
        await using var connection = await OpenAsync(ct);
        await using var transaction = connection.BeginTransaction(deferred: false);
        var result = await work(connection, transaction);
        await transaction.CommitAsync(ct);
        return result;
    }

    public async Task<string?> SettingAsync(string key)
    {
        await using var connection = await OpenAsync();
        return await connection.QuerySingleOrDefaultAsync<string>("SELECT value FROM settings WHERE key = @key", new { key });
    }

    public async Task SaveSettingsAsync(IReadOnlyDictionary<string, string> values)
    {
        await InTransactionAsync(async (c, t) =>
        {
            foreach (var (key, value) in values)
                await c.ExecuteAsync("INSERT INTO settings (key, value) VALUES (@key, @value) ON CONFLICT (key) DO UPDATE SET value = excluded.value", new { key, value }, t);
            return true;
        });
    }
}
