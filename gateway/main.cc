// Placeholder until the server lands; replaced in the same session.
int main() { return 0; }
