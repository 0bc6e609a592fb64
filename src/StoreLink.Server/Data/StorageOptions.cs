namespace StoreLink.Server.Data;

/// <summary><c>Storage:*</c> — which database holds everything.</summary>
public sealed class StorageOptions
{
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary><c>sqlite</c> (default; a file in the data directory) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = Sqlite;

    /// <summary>For PostgreSQL: an Npgsql connection string. For SQLite: optional, overrides the file in the data directory.</summary>
    public string? ConnectionString { get; set; }
}

/// <summary><c>StoreLink:*</c> — settings of the process itself.</summary>
public sealed class ServerOptions
{
    /// <summary>Where the SQLite database and attachments live. Created when missing.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Seed the demo organizations on first start (also on by default in Development, or with <c>--demo</c>).</summary>
    public bool Demo { get; set; }
}
