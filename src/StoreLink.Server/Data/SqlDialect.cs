namespace StoreLink.Server.Data;

/// <summary>
/// The few places where SQLite and PostgreSQL SQL differ. Everything else is written once in the
/// common subset: <c>INSERT … ON CONFLICT</c>, <c>RETURNING</c>, integer Unix-millisecond times, JSON in text.
/// </summary>
public sealed class SqlDialect
{
    public static readonly SqlDialect Sqlite = new(StorageOptions.Sqlite);
    public static readonly SqlDialect Postgres = new(StorageOptions.Postgres);

    private SqlDialect(string name) => Name = name;

    /// <summary><c>sqlite</c> or <c>postgres</c>: also the name of the migrations folder.</summary>
    public string Name { get; }

    public bool IsPostgres => ReferenceEquals(this, Postgres);

    /// <summary>Case-insensitive substring match of a column against a parameter that holds a LIKE pattern.</summary>
    public string ILike(string column, string parameter) =>
        IsPostgres ? $"{column} ILIKE {parameter}" : $"{column} LIKE {parameter}";

    public override string ToString() => Name;
}
