using Dapper;

namespace StoreLink.Server.Data;

public static class DataSetup
{
    public static WebApplicationBuilder AddData(this WebApplicationBuilder builder)
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        builder.Services.AddOptions<StorageOptions>().BindConfiguration("Storage")
            .Validate(o => o.Provider is StorageOptions.Sqlite or StorageOptions.Postgres, "Storage:Provider is sqlite or postgres.")
            .Validate(o => o.Provider != StorageOptions.Postgres || !string.IsNullOrWhiteSpace(o.ConnectionString),
                "Storage:ConnectionString is required for postgres.")
            .ValidateOnStart();
        builder.Services.AddOptions<ServerOptions>().BindConfiguration("StoreLink")
            .Validate(o => !string.IsNullOrWhiteSpace(o.DataDirectory), "StoreLink:DataDirectory must not be empty.").ValidateOnStart();
        builder.Services.AddSingleton<Db>();
        builder.Services.AddSingleton<MigrationRunner>();
        builder.Services.AddSingleton<SqliteCheckpointer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SqliteCheckpointer>());
        builder.Services.AddSingleton(TimeProvider.System);
        return builder;
    }
}
