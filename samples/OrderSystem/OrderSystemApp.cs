using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;

namespace OrderSystem;

/// <summary>The order system's host: its services and endpoints. Tests build it the same way, on a port of their own.</summary>
public static class OrderSystemApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
            builder.WebHost.UseUrls("http://localhost:5090");
        // Defaults live in code (no appsettings.json: the tests' output folder holds the server's).
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);
        builder.Services.AddOptions<OrderSystemOptions>().BindConfiguration("OrderSystem");
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddHttpClient("storelink", (services, client) =>
            client.BaseAddress = new Uri(services.GetRequiredService<IOptions<OrderSystemOptions>>().Value.StoreLinkUrl));
        builder.Services.AddSingleton<Database>();
        builder.Services.AddSingleton<Credentials>();
        builder.Services.AddSingleton<OrderBook>();
        builder.Services.AddSingleton<Setup>();
        builder.Services.AddSingleton<EventPusher>();
        builder.Services.AddHostedService(services => services.GetRequiredService<EventPusher>());
        builder.Services.AddSingleton<Commands>();
        builder.Services.AddHostedService(services => services.GetRequiredService<Commands>());
        builder.Services.AddAntiforgery();
        builder.Services.ConfigureHttpJsonOptions(json => ProtocolJson.Configure(json.SerializerOptions));
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseAntiforgery();
        app.MapOrders();
        app.MapStoreLink();
        return app;
    }
}
