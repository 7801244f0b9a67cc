import streamlit as st

st.title("kl_beta")
st.info("This page is being built.")
