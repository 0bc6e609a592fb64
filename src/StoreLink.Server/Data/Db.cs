using System.Collections.Concurrent;
using System.Data;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Npgsql;

namespace StoreLink.Server.Data;

/// <summary>
/// The one way to the database. SQLite connections are opened with power-safe settings
/// (WAL, <c>synchronous=FULL</c>, foreign keys on, a busy timeout); PostgreSQL keeps its default durability.
/// </summary>
public sealed class Db : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly NpgsqlDataSource? _postgres;

    public Db(IOptions<StorageOptions> storage, IOptions<ServerOptions> server)
    {
        var options = storage.Value;
        if (string.Equals(options.Provider, StorageOptions.Postgres, StringComparison.OrdinalIgnoreCase))
        {
            Dialect = SqlDialect.Postgres;
            _connectionString = NullIfBlank(options.ConnectionString)
                ?? throw new InvalidOperationException("Storage:ConnectionString is required when Storage:Provider is postgres.");
            _postgres = NpgsqlDataSource.Create(_connectionString);
        }
        else
        {
            Dialect = SqlDialect.Sqlite;
            _connectionString = NullIfBlank(options.ConnectionString) ?? new SqliteConnectionStringBuilder
            {
                DataSource = Path.Combine(Path.GetFullPath(server.Value.DataDirectory), "storelink.db"),
                Pooling = true,
                ForeignKeys = true,
                DefaultTimeout = 30,
            }.ToString();
        }
    }

    public SqlDialect Dialect { get; }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>A human-readable description of where the data is, for the start-up banner (no password).</summary>
    public string Describe() => _postgres is not null
        ? $"PostgreSQL {new NpgsqlConnectionStringBuilder(_connectionString) { Password = null }.ConnectionString}"
        : $"SQLite {new SqliteConnectionStringBuilder(_connectionString).DataSource}";

    /// <summary>An open connection. A database that cannot be reached throws <see cref="DatabaseUnavailableException"/>.</summary>
    public async Task<DbConnection> OpenAsync(CancellationToken ct = default)
    {
        try
        {
            if (_postgres is not null)
                return await _postgres.OpenConnectionAsync(ct);
            // Microsoft.Data.Sqlite opens synchronously whatever the method.
            return OpenSqlite();
        }
        catch (Exception e) when (e is DbException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new DatabaseUnavailableException($"Cannot open the database ({Describe()}): {e.Message}", e);
        }
    }

    /// <summary>The same, synchronously: for the message writer's own thread.</summary>
    public DbConnection Open()
    {
        try
        {
            return _postgres is not null ? _postgres.OpenConnection() : OpenSqlite();
        }
        catch (Exception e) when (e is DbException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new DatabaseUnavailableException($"Cannot open the database ({Describe()}): {e.Message}", e);
        }
    }

    // SQLite handles that already have their per-connection settings; a pooled connection keeps its handle.
    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> Configured = [];

    private SqliteConnection OpenSqlite()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // Per-connection settings, once per physical connection (they stay while the pool keeps it);
        // journal_mode=WAL is persistent and set once by the migration runner.
        if (!Configured.TryGetValue(connection.Handle!, out _))
        {
            // Checkpoints are SqliteCheckpointer's, not the committing connection's.
            connection.Execute("PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA wal_autocheckpoint=0;");
            Configured.AddOrUpdate(connection.Handle!, Configured); // the value is never read
        }
        return connection;
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction and commits it; rolls back on any exception. On PostgreSQL a
    /// serialization failure or deadlock (concurrent transactions that cannot both commit) runs the work again, so
    /// <paramref name="work"/> must touch nothing but the database.
    /// </summary>
    public async Task<T> InTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await OpenAsync(ct);
                // SQLite: BEGIN IMMEDIATE (the provider's default) takes the write lock up front, so two writers
                // queue on the busy timeout instead of failing on a read-to-write upgrade.
                await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.Serializable, ct);
                var result = await work(connection, transaction);
                await transaction.CommitAsync(ct);
                return result;
            }
            catch (Npgsql.PostgresException e) when (e.SqlState is "40001" or "40P01" && attempt < MaxAttempts)
            {
                // Contenders for one row commit one per round: back off exponentially (with jitter, up to half a
                // second) so that ten writers at once on a busy machine all get through instead of running out of tries.
                await Task.Delay(Random.Shared.Next(1, Math.Min(5 << Math.Min(attempt, 7), 500)), ct);
            }
        }
    }

    private const int MaxAttempts = 25;

    public Task InTransactionAsync(Func<DbConnection, DbTransaction, Task> work, CancellationToken ct = default) =>
        InTransactionAsync<bool>(async (c, t) => { await work(c, t); return true; }, ct);

    public async Task<T?> QuerySingleOrDefaultAsync<T>(string sql, object? args = null, CancellationToken ct = default)
    {
        await using var connection = await OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, object? args = null, CancellationToken ct = default)
    {
        await using var connection = await OpenAsync(ct);
        return (await connection.QueryAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct))).AsList();
    }

    public async Task<int> ExecuteAsync(string sql, object? args = null, CancellationToken ct = default)
    {
        await using var connection = await OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    /// <summary>
    /// A read on the hot path (every send's access check): runs <paramref name="sql"/> (parameters <c>@p0</c>,
    /// <c>@p1</c>, … from <paramref name="values"/>) on one of a few connections kept open for such reads, each of
    /// which compiles a statement once and keeps it. A pooled open, a new command and SQLite's parse and plan of the
    /// statement cost several times what the read itself does.
    /// </summary>
    public async Task<T> ReadPreparedAsync<T>(string sql, object?[] values, Func<DbDataReader, T> read, CancellationToken ct = default)
    {
        if (!_readers.TryPop(out var reader))
            reader = new PreparedReader(await OpenAsync(ct));
        T result;
        try
        {
            var command = reader.Command(sql, values.Length);
            for (var i = 0; i < values.Length; i++)
                command.Parameters[i].Value = values[i] ?? DBNull.Value;
            await using (var rows = await command.ExecuteReaderAsync(ct))
                result = read(rows);
        }
        catch
        {
            reader.Dispose(); // whatever broke stays broken with it
            throw;
        }
        if (_readers.Count < MaxIdleReaders && !_disposed)
            _readers.Push(reader);
        else
            reader.Dispose();
        return result;
    }

    // Enough for the threads that run requests at once on a small machine; a read that finds none idle opens one more.
    private const int MaxIdleReaders = 8;
    private readonly ConcurrentStack<PreparedReader> _readers = new();
    private volatile bool _disposed;

    /// <summary>
    /// A connection of its own and its commands by their text. Microsoft.Data.Sqlite keeps a command's statement
    /// compiled between executions; on PostgreSQL it saves the pooled open.
    /// </summary>
    private sealed class PreparedReader(DbConnection connection) : IDisposable
    {
        private readonly Dictionary<string, DbCommand> _commands = new(StringComparer.Ordinal);

        public DbCommand Command(string sql, int parameters)
        {
            if (_commands.TryGetValue(sql, out var command))
                return command;
            command = connection.CreateCommand();
            command.CommandText = sql;
            for (var i = 0; i < parameters; i++)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = $"@p{i}";
                command.Parameters.Add(parameter);
            }
            return _commands[sql] = command;
        }

        public void Dispose()
        {
            foreach (var command in _commands.Values)
                command.Dispose();
            connection.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        while (_readers.TryPop(out var reader))
            reader.Dispose();
        if (_postgres is not null)
            await _postgres.DisposeAsync();
    }
}

/// <summary>The database could not be reached: answered as 503 <c>unavailable</c>, never as a fault of the request.</summary>
public sealed class DatabaseUnavailableException(string message, Exception inner) : Exception(message, inner);
