using System.Data.Common;
using System.Reflection;
using Dapper;

namespace StoreLink.Server.Data;

/// <summary>One migration: <c>0001_accounts</c> → version <c>0001</c>, name <c>accounts</c>.</summary>
public sealed record Migration(string Version, string Name, string Sql)
{
    /// <summary>
    /// The migrations of a dialect embedded in this assembly, in order. A migration is written once in
    /// <c>Migrations/shared/</c>; a file of the same name in the dialect's folder (<c>sqlite/</c>, <c>postgres/</c>)
    /// replaces it for that dialect where the two must differ. 0001–0012 predate the shared folder and exist per dialect.
    /// </summary>
    public static IReadOnlyList<Migration> Embedded(SqlDialect dialect)
    {
        var assembly = typeof(Migration).Assembly;
        var own = $"migrations/{dialect.Name}/";
        const string shared = "migrations/shared/";
        var byFile = new SortedDictionary<string, Migration>(StringComparer.Ordinal);
        foreach (var prefix in new[] { shared, own })
            foreach (var name in assembly.GetManifestResourceNames()
                         .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
            {
                var migration = FromResource(assembly, name, prefix);
                byFile[$"{migration.Version}_{migration.Name}"] = migration; // the dialect's own file wins
            }
        return byFile.Values.ToList();
    }

    private static Migration FromResource(Assembly assembly, string resource, string prefix)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream);
        var file = Path.GetFileNameWithoutExtension(resource[prefix.Length..]);
        var underscore = file.IndexOf('_');
        return new Migration(file[..underscore], file[(underscore + 1)..], reader.ReadToEnd());
    }
}

public sealed class MigrationFailedException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Applies pending migrations in order at start-up, each in its own transaction together with its row in
/// <c>schema_migrations</c>: a migration that fails leaves the database exactly as it was before it.
/// On PostgreSQL an advisory lock keeps two nodes that start together from racing.
/// </summary>
public sealed class MigrationRunner(Db db, ILogger<MigrationRunner> logger)
{
    private const long PostgresLockKey = 0x53_74_6F_72_65_4C_6B; // "StoreLk"

    private const string CreateTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )
        """;

    public async Task<IReadOnlyList<string>> ApplyAsync(IReadOnlyList<Migration>? migrations = null, CancellationToken ct = default)
    {
        migrations ??= Migration.Embedded(db.Dialect);
        await using var connection = await db.OpenAsync(ct);
        if (db.Dialect.IsPostgres)
            await connection.ExecuteAsync("SELECT pg_advisory_lock(@key)", new { key = PostgresLockKey });
        else
            await connection.ExecuteAsync("PRAGMA journal_mode=WAL;");
        try
        {
            await connection.ExecuteAsync(CreateTable);
            var applied = (await connection.QueryAsync<string>("SELECT version FROM schema_migrations")).ToHashSet();
            var done = new List<string>();
            foreach (var migration in migrations.Where(m => !applied.Contains(m.Version)))
            {
                await ApplyOneAsync(connection, migration, ct);
                done.Add($"{migration.Version}_{migration.Name}");
            }
            if (done.Count > 0)
                logger.LogInformation("Applied migrations {Migrations}", string.Join(", ", done));
            return done;
        }
        finally
        {
            if (db.Dialect.IsPostgres)
                await connection.ExecuteAsync("SELECT pg_advisory_unlock(@key)", new { key = PostgresLockKey });
        }
    }

    private static async Task ApplyOneAsync(DbConnection connection, Migration migration, CancellationToken ct)
    {
        await using var transaction = await connection.BeginTransactionAsync(ct);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: transaction, cancellationToken: ct));
            await connection.ExecuteAsync(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@Version, @Name, @now)",
                new { migration.Version, migration.Name, now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, transaction);
            await transaction.CommitAsync(ct);
        }
        catch (DbException e)
        {
            await transaction.RollbackAsync(CancellationToken.None);
            throw new MigrationFailedException(
                $"Migration {migration.Version}_{migration.Name} failed and was rolled back; the database is as it was before it. " +
                $"Cause: {e.Message}", e);
        }
    }
}
