namespace OrderSystem;

public static class Program
{
    /// <summary>
    /// <c>dotnet run --project samples/OrderSystem</c> runs the order system at http://localhost:5090;
    /// <c>… -- setup [--login L] [--password P] [--self URL] [--polling]</c> connects it to StoreLink first.
    /// </summary>
    public static async Task<int> Main(string[] args)
    {
        var setup = args.Length > 0 && args[0] == "setup";
        // Settings (--OrderSystem:StoreLinkUrl …, --urls …) apply to setup too; setup's own switch is not a setting.
        var app = OrderSystemApp.Build([.. args.Skip(setup ? 1 : 0).Where(a => a != "--polling")]);
        await app.Services.GetRequiredService<Database>().CreateAsync();
        if (!setup)
        {
            await app.RunAsync();
            return 0;
        }
        string Arg(string name, string fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        var self = new Uri(Arg("--self", "http://localhost:5090"));
        var linked = await app.Services.GetRequiredService<Setup>().RunAsync(
            Arg("--login", "admin@demo.local"), Arg("--password", "demo1234"), self, polling: args.Contains("--polling"));
        Console.WriteLine($"Connected to StoreLink: connector {linked.ConnectorId}; StoreLink calls {new Uri(self, "/storelink/")}.");
        Console.WriteLine("Now start the order system: dotnet run --project samples/OrderSystem");
        return 0;
    }
}
